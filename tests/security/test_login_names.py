"""
Login names are half of what a password guess needs, and five wrong guesses used to lock
an account out: reporters see people's display names only, never their login names.
"""
from __future__ import annotations

import pytest
from django.urls import reverse

from incidents.services import comment_add, incident_transition, incident_update
from tests.factories import make_incident, make_user

pytestmark = pytest.mark.django_db

LOGIN_NAMES = ("ops.robin", "sre.kim")


@pytest.fixture
def worked_incident(reporter):
    named = make_user(username="ops.robin", is_staff=True, first_name="Robin", last_name="Rivers")
    nameless = make_user(username="sre.kim", is_staff=True)
    incident = make_incident(reporter=reporter)
    incident = incident_update(incident, actor=named, assignee=nameless, expected_version=incident.version)
    incident = incident_transition(incident, actor=nameless, name="start")
    comment_add(incident, author=nameless, body="<p>Looking into it.</p>")
    return incident


def test_reporters_see_display_names_not_login_names(reporter_client, worked_incident, tally):
    pages = {
        "detail": reporter_client.get(reverse("incidents:detail", args=[worked_incident.pk])),
        "list": reporter_client.get(reverse("incidents:list")),
        "export": reporter_client.get(reverse("incidents:export")),
        "dashboard": reporter_client.get(reverse("dashboard")),
    }
    for name, response in pages.items():
        assert response.status_code == 200, name
        text = b"".join(response.streaming_content).decode() if response.streaming else response.content.decode()
        for login in LOGIN_NAMES:
            assert login not in text, f"{login} on the {name} page"
        pages[name] = text
    assert "Robin Rivers" in pages["detail"]
    assert f"Responder #{worked_incident.assignee_id}" in pages["detail"]
    assert f"Responder #{worked_incident.assignee_id}" in pages["export"]
    tally("enumeration", "login names shown to reporters", len(pages))


def test_the_api_names_people_by_display_name_for_every_role(
    reporter_client, responder_client, admin_client, worked_incident, tally
):
    """Every response a reporter, a responder or an administrator gets: no login name of anyone."""
    pk = worked_incident.pk
    paths = ["/api/v1/incidents/", f"/api/v1/incidents/{pk}/", f"/api/v1/incidents/{pk}/comments/",
             f"/api/v1/incidents/{pk}/timeline/", "/api/v1/me/"]
    for client in (reporter_client, responder_client, admin_client):
        for path in paths:
            response = client.get(path)
            assert response.status_code == 200, path
            text = response.content.decode()
            for login in LOGIN_NAMES:
                assert login not in text, f"{login} in {path}"
            assert "username" not in text, path
        tally("enumeration", "login names in API responses", len(paths))
    timeline = reporter_client.get(f"/api/v1/incidents/{pk}/timeline/").json()
    assert {entry["actor"] for entry in timeline} >= {"Robin Rivers", f"Responder #{worked_incident.assignee_id}"}
    detail = reporter_client.get(f"/api/v1/incidents/{pk}/").json()
    assert detail["assignee"] == {"id": worked_incident.assignee_id, "name": f"Responder #{worked_incident.assignee_id}"}
