"""
The incident resources through the API: the web's rules for each role, optimistic
locking with ETag / If-Match, the workflow's 409, comments and internal notes, the
timeline, and errors as problem documents that never change anything.
"""
from __future__ import annotations

import json
import re

import pytest
from django.test import Client

from audit.models import Action, AuditLog
from incidents.models import Comment, Incident, Severity
from incidents.services import comment_add
from incidents.workflow import Status
from tests.factories import make_category, make_comment, make_incident, make_shared_word_incidents, make_user

pytestmark = pytest.mark.django_db
PROBLEM = "application/problem+json"


def send(client: Client, method: str, path: str, body: object = None, **headers: str):
    kwargs = {"data": json.dumps(body), "content_type": "application/json"} if body is not None else {}
    return getattr(client, method)(f"/api/v1/{path}", headers=headers, **kwargs)


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    problem = response.json()
    assert problem["status"] == status and problem["title"] and problem["type"] == "about:blank"
    return problem


# --- Authentication ------------------------------------------------------------------

@pytest.mark.parametrize("path", ["incidents/", "incidents/1/", "incidents/1/comments/", "incidents/1/timeline/",
                                  "categories/", "me/"])
def test_anonymous_gets_401_with_a_bearer_challenge(path):
    response = Client().get(f"/api/v1/{path}")
    assert_problem(response, 401)
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_unknown_malformed_or_foreign_tokens_are_refused():
    for header in ["Bearer itk_not-a-real-token", "Bearer", "Bearer a b", "Bearer ita_integration-secret"]:
        assert_problem(Client(HTTP_AUTHORIZATION=header).get("/api/v1/me/"), 401)


def test_me_names_the_user_and_the_token(reporter, api_client):
    body = send(api_client(reporter, scope="read"), "get", "me/").json()
    assert (body["id"], body["name"], body["role"]) == (reporter.pk, str(reporter), "reporter")
    assert "username" not in body
    assert body["token"]["name"] == "script" and body["token"]["scope"] == "read"


def test_session_works_and_needs_csrf_to_write(reporter):
    client = Client(enforce_csrf_checks=True)
    client.force_login(reporter)
    assert send(client, "get", "me/").json()["token"] is None
    problem = assert_problem(send(client, "post", "incidents/", {"title": "x", "description": "y"}), 403)
    assert "CSRF" in problem["detail"]
    assert not Incident.objects.exists()


def test_staff_session_without_verified_second_factor_reaches_no_api(responder):
    client = Client()
    client.force_login(responder)
    assert send(client, "get", "incidents/").status_code == 302


def test_read_only_token_reads_but_never_writes(reporter, api_client):
    incident = make_incident(reporter=reporter)
    client = api_client(reporter, scope="read")
    assert send(client, "get", f"incidents/{incident.pk}/").status_code == 200
    problem = assert_problem(send(client, "post", "incidents/", {"title": "New", "description": "Text"}), 403)
    assert "read-only" in problem["detail"]
    assert_problem(send(client, "post", f"incidents/{incident.pk}/comments/", {"body": "Hi"}), 403)
    assert Incident.objects.count() == 1 and not Comment.objects.exists()


# --- The reporter / responder matrix -------------------------------------------------

def test_reporter_sees_only_their_own_incidents(reporter, other_reporter, api_client):
    mine = make_incident(reporter=reporter, title="Mine")
    theirs = make_incident(reporter=other_reporter, title="Theirs")
    client = api_client(reporter)
    assert [row["title"] for row in send(client, "get", "incidents/").json()["results"]] == ["Mine"]
    for path in [f"incidents/{theirs.pk}/", f"incidents/{theirs.pk}/comments/", f"incidents/{theirs.pk}/timeline/"]:
        assert_problem(send(client, "get", path), 404)
    assert_problem(send(client, "patch", f"incidents/{theirs.pk}/", {"title": "Mine now"}, If_Match='"v1"'), 404)
    assert_problem(send(client, "post", f"incidents/{theirs.pk}/comments/", {"body": "Hi"}), 404)
    assert_problem(send(client, "post", f"incidents/{theirs.pk}/transitions/", {"to": "in_progress"}), 404)
    assert send(client, "get", f"incidents/{mine.pk}/").status_code == 200
    theirs.refresh_from_db()
    assert theirs.title == "Theirs" and not Comment.objects.exists()


def test_responder_sees_every_incident(reporter, other_reporter, responder, api_client):
    make_incident(reporter=reporter, title="One")
    make_incident(reporter=other_reporter, title="Two")
    titles = {row["title"] for row in send(api_client(responder), "get", "incidents/").json()["results"]}
    assert titles == {"One", "Two"}


def test_reporter_creates_an_incident_audited_as_made_through_the_api(reporter, api_client):
    category = make_category()
    response = send(api_client(reporter), "post", "incidents/", {
        "title": "<b>Mail</b> is down", "description": "<p>Since 9:00</p><script>alert(1)</script>",
        "severity": 2, "category": category.pk,
    })
    assert response.status_code == 201
    body = response.json()
    assert body["title"] == "Mail is down" and "<script>" not in body["description"]
    assert body["severity"] == 2 and body["category"] == category.pk and body["status"] == "open"
    assert response["ETag"] == '"v1"' and response["Location"].endswith(f"/api/v1/incidents/{body['id']}/")
    row = AuditLog.objects.get(action=Action.INCIDENT_REPORTED)
    assert row.actor_username == "reporter" and row.via == "API token “script”"
    assert "itk_" not in json.dumps(row.content())


def test_invalid_report_gets_field_messages_and_changes_nothing(reporter, api_client):
    problem = assert_problem(send(api_client(reporter), "post", "incidents/", {
        "title": "", "severity": 9, "category": 999, "reporter": 1, "status": "closed",
    }), 400)
    assert set(problem["errors"]) == {"reporter", "status"}
    problem = assert_problem(send(api_client(reporter), "post", "incidents/", {"title": "", "severity": 9}), 400)
    assert set(problem["errors"]) == {"title", "description", "severity"}
    assert not Incident.objects.exists()


@pytest.mark.parametrize("body", ['{"title": ', "[]", '"text"', "null", "\x00"])
def test_malformed_json_is_a_400_problem(reporter, api_client, body):
    response = api_client(reporter).post("/api/v1/incidents/", data=body, content_type="application/json")
    assert_problem(response, 400)
    assert not Incident.objects.exists()


def test_other_media_types_are_refused(reporter, api_client):
    response = api_client(reporter).post("/api/v1/incidents/", data={"title": "x", "description": "y"})
    assert_problem(response, 415)


# --- Optimistic locking --------------------------------------------------------------

def test_patch_with_the_current_etag_changes_and_audits(reporter, api_client):
    incident = make_incident(reporter=reporter)
    client = api_client(reporter)
    tag = send(client, "get", f"incidents/{incident.pk}/")["ETag"]
    response = send(client, "patch", f"incidents/{incident.pk}/", {"title": "VPN down in Lyon"}, If_Match=tag)
    assert response.status_code == 200 and response.json()["title"] == "VPN down in Lyon"
    assert response["ETag"] == '"v2"'
    row = AuditLog.objects.get(action=Action.INCIDENT_EDITED)
    assert row.changes == {"title": ["VPN is down", "VPN down in Lyon"]} and row.via == "API token “script”"


def test_stale_if_match_gets_412_and_changes_nothing(reporter, responder, api_client):
    incident = make_incident(reporter=reporter)
    send(api_client(responder), "patch", f"incidents/{incident.pk}/", {"severity": 1}, If_Match='"v1"')
    response = send(api_client(reporter), "patch", f"incidents/{incident.pk}/", {"title": "Mine"}, If_Match='"v1"')
    assert_problem(response, 412)
    incident.refresh_from_db()
    assert (incident.title, incident.severity, incident.version) == ("VPN is down", Severity.SEV1, 2)


def test_patch_without_if_match_gets_428_and_a_garbled_one_412(reporter, api_client):
    incident = make_incident(reporter=reporter)
    client = api_client(reporter)
    assert_problem(send(client, "patch", f"incidents/{incident.pk}/", {"title": "x"}), 428)
    assert_problem(send(client, "patch", f"incidents/{incident.pk}/", {"title": "x"}, If_Match="*"), 412)
    incident.refresh_from_db()
    assert incident.version == 1


def test_reporter_cannot_assign_nor_edit_once_work_started(reporter, responder, api_client):
    incident = make_incident(reporter=reporter)
    client = api_client(reporter)
    problem = assert_problem(send(client, "patch", f"incidents/{incident.pk}/", {"assignee": responder.pk},
                                  If_Match='"v1"'), 403)
    assert "responders" in problem["detail"]
    Incident.objects.filter(pk=incident.pk).update(status=Status.IN_PROGRESS)
    assert_problem(send(client, "patch", f"incidents/{incident.pk}/", {"title": "x"}, If_Match='"v1"'), 403)


def test_unknown_and_read_only_fields_are_rejected_on_patch(reporter, api_client):
    incident = make_incident(reporter=reporter)
    problem = assert_problem(send(api_client(reporter), "patch", f"incidents/{incident.pk}/",
                                  {"status": "closed", "version": 7, "titel": "typo"}, If_Match='"v1"'), 400)
    assert set(problem["errors"]) == {"status", "version", "titel"}


def test_responder_assigns_through_the_api(reporter, responder, api_client):
    incident = make_incident(reporter=reporter)
    response = send(api_client(responder), "patch", f"incidents/{incident.pk}/", {"assignee": responder.pk},
                    If_Match='"v1"')
    assert response.json()["assignee"] == {"id": responder.pk, "name": str(responder)}
    assert AuditLog.objects.filter(action=Action.INCIDENT_ASSIGNED, via="API token “script”").exists()


# --- Workflow ------------------------------------------------------------------------

def test_responder_moves_an_incident_and_an_illegal_move_gets_409_with_the_allowed_ones(reporter, responder, api_client):
    incident = make_incident(reporter=reporter)
    client = api_client(responder)
    problem = assert_problem(send(client, "post", f"incidents/{incident.pk}/transitions/", {"to": "closed"}), 409)
    assert problem["allowed"] == ["in_progress"]
    response = send(client, "post", f"incidents/{incident.pk}/transitions/", {"to": "in_progress"})
    assert response.status_code == 200 and response.json()["status"] == "in_progress"
    assert response.json()["acknowledged_at"] is not None
    row = AuditLog.objects.get(action=Action.INCIDENT_TRANSITIONED)
    assert row.changes["status"] == ["open", "in_progress"] and row.via == "API token “script”"


def test_transition_with_a_stale_if_match_gets_412(reporter, responder, api_client):
    incident = make_incident(reporter=reporter, version=3)
    response = send(api_client(responder), "post", f"incidents/{incident.pk}/transitions/", {"to": "in_progress"},
                    If_Match='"v2"')
    assert_problem(response, 412)
    incident.refresh_from_db()
    assert incident.status == Status.OPEN


def test_reporter_cannot_move_their_incident(reporter, api_client):
    incident = make_incident(reporter=reporter)
    assert_problem(send(api_client(reporter), "post", f"incidents/{incident.pk}/transitions/", {"to": "in_progress"}), 403)
    assert_problem(send(api_client(reporter), "post", f"incidents/{incident.pk}/transitions/", {"to": "nowhere"}), 400)
    incident.refresh_from_db()
    assert incident.status == Status.OPEN


# --- Comments and timeline -----------------------------------------------------------

def test_internal_notes_are_never_listed_to_reporters(reporter, responder, api_client):
    incident = make_incident(reporter=reporter)
    make_comment(incident=incident, author=responder, body="<p>Public</p>")
    make_comment(incident=incident, author=responder, body="<p>Secret note</p>", internal=True)
    reporter_view = send(api_client(reporter), "get", f"incidents/{incident.pk}/comments/").json()
    responder_view = send(api_client(responder), "get", f"incidents/{incident.pk}/comments/").json()
    assert [comment["body"] for comment in reporter_view] == ["<p>Public</p>"]
    assert [comment["internal"] for comment in responder_view] == [False, True]


def test_comments_are_created_sanitised_and_notes_are_for_responders(reporter, responder, api_client):
    incident = make_incident(reporter=reporter)
    response = send(api_client(reporter), "post", f"incidents/{incident.pk}/comments/",
                    {"body": "<p onclick='x()'>Still down</p>"})
    assert response.status_code == 201 and response.json()["body"] == "<p>Still down</p>"
    assert_problem(send(api_client(reporter), "post", f"incidents/{incident.pk}/comments/",
                        {"body": "Sneaky", "internal": True}), 403)
    assert_problem(send(api_client(reporter), "post", f"incidents/{incident.pk}/comments/", {"body": "<b></b>"}), 400)
    note = send(api_client(responder), "post", f"incidents/{incident.pk}/comments/", {"body": "Note", "internal": True})
    assert note.status_code == 201 and note.json()["internal"] is True
    assert list(Comment.objects.values_list("internal", flat=True).order_by("id")) == [False, True]


def test_timeline_is_filtered_as_on_the_page(reporter, responder, api_client):
    incident = make_incident(reporter=reporter)
    send(api_client(responder), "post", f"incidents/{incident.pk}/comments/", {"body": "Note", "internal": True})
    send(api_client(responder), "post", f"incidents/{incident.pk}/comments/", {"body": "Public"})
    actions = [entry["action"] for entry in send(api_client(reporter), "get", f"incidents/{incident.pk}/timeline/").json()]
    assert actions == ["incident.commented"]
    staff_view = send(api_client(responder), "get", f"incidents/{incident.pk}/timeline/").json()
    assert [entry["action"] for entry in staff_view] == ["incident.note_added", "incident.commented"]
    assert staff_view[0]["via"] == "API token “script”"


def test_categories_are_listed(reporter, api_client):
    make_category(name="Network")
    assert [row["name"] for row in send(api_client(reporter), "get", "categories/").json()] == ["Network"]


# --- Lists ---------------------------------------------------------------------------

def test_list_uses_the_web_filters_and_stable_cursors(responder, reporter, api_client):
    for number in range(30):
        make_incident(reporter=reporter, title=f"Incident {number}", severity=Severity.SEV1 if number % 2 else Severity.SEV4)
    client = api_client(responder)
    first = send(client, "get", "incidents/?severity=1&sort=oldest").json()
    assert len(first["results"]) == 15 and first["next"] is None and first["previous"] is None
    assert [row["title"] for row in first["results"]][:2] == ["Incident 1", "Incident 3"]
    page_one = send(client, "get", "incidents/").json()
    assert len(page_one["results"]) == 25 and page_one["next"]
    make_incident(reporter=reporter, title="Arrived meanwhile")
    page_two = client.get(page_one["next"]).json()
    seen = [row["id"] for row in page_one["results"] + page_two["results"]]
    assert len(seen) == len(set(seen)) == 30
    back = client.get(page_two["previous"]).json()
    assert [row["id"] for row in back["results"]] == [row["id"] for row in page_one["results"]]


@pytest.mark.parametrize("query", ["status=nope", "severity=7", "sort=random", "assignee=999999", "category=abc",
                                   "colour=red", "after=garbage", "before=1~2~3~4"])
def test_bad_list_parameters_get_400_naming_the_parameter(reporter, api_client, query):
    problem = assert_problem(send(api_client(reporter), "get", f"incidents/?{query}"), 400)
    assert query.split("=")[0] in problem["errors"]


def test_search_filters_the_list(reporter, api_client):
    make_incident(reporter=reporter, title="Printer jam")
    make_incident(reporter=reporter, title="VPN down")
    titles = [row["title"] for row in send(api_client(reporter), "get", "incidents/?q=printer").json()["results"]]
    assert titles == ["Printer jam"]


# --- Throttling ----------------------------------------------------------------------

def test_each_token_is_throttled_with_retry_after(reporter, api_client, settings):
    settings.API_RATE_PER_MINUTE = 3
    client, other = api_client(reporter), api_client(make_user(username="neighbour"))
    for _ in range(3):
        assert send(client, "get", "me/").status_code == 200
    response = send(client, "get", "me/")
    assert_problem(response, 429)
    assert 0 < int(response["Retry-After"]) <= 60
    assert send(other, "get", "me/").status_code == 200


# --- Long sub-lists --------------------------------------------------------------------

def test_comments_and_the_timeline_come_in_bounded_pages_with_a_link_to_the_rest(reporter, api_client, monkeypatch):
    monkeypatch.setattr("api.views.SUBLIST_PAGE", 3)
    incident = make_incident(reporter=reporter)
    for number in range(4):
        comment_add(incident, author=reporter, body=f"<p>Update {number}</p>")
    client = api_client(reporter)
    first = send(client, "get", f"incidents/{incident.pk}/comments/")
    assert [row["body"] for row in first.json()] == [f"<p>Update {number}</p>" for number in range(3)]
    next_link = re.match(r'<http://testserver(/api/v1/[^>]+)>; rel="next"', first["Link"])
    assert next_link
    rest = client.get(next_link.group(1))
    assert [row["body"] for row in rest.json()] == ["<p>Update 3</p>"] and "Link" not in rest
    timeline = send(client, "get", f"incidents/{incident.pk}/timeline/")
    assert len(timeline.json()) == 3 and 'rel="next"' in timeline["Link"]
    assert_problem(send(client, "get", f"incidents/{incident.pk}/comments/?after=x"), 400)


@pytest.mark.postgresql
@pytest.mark.django_db
def test_the_api_reaches_every_match_in_best_match_order(reporter, api_client):
    ids = make_shared_word_incidents(reporter)["quokka"]
    client, reached, url = api_client(reporter), [], "/api/v1/incidents/?q=quokka"
    while url:
        answer = client.get(url).json()
        reached += [incident["id"] for incident in answer["results"]]
        url = answer["next"]
    assert sorted(reached) == sorted(ids)
