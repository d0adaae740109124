"""Alert integrations in the admin: the secret appears once, in the message after saving or replacing it."""
from __future__ import annotations

import re

import pytest
from django.urls import reverse

from api.models import AlertGroup, AlertIntegration
from api.services import integration_authenticate
from audit.models import Action, AuditLog

pytestmark = pytest.mark.django_db
SECRET = re.compile(r"ita_[A-Za-z0-9_-]{43}")


def added(admin_client, **fields):
    data = {"name": "Prometheus", "kind": "alertmanager", "severity_label": "severity",
            "severity_map": '{"critical": 1}', "default_severity": 3, "resolve_on_resolved": "on", "is_active": "on",
            "reopen_within_minutes": 0, "rate_limit_per_minute": 0, "drop_matchers": "",
            **fields}
    return admin_client.post(reverse("admin:api_alertintegration_add"), data, follow=True)


def test_adding_an_integration_shows_its_secret_once(admin_client):
    response = added(admin_client)
    [secret] = SECRET.findall(response.content.decode())
    integration = AlertIntegration.objects.get()
    assert integration_authenticate(secret) == integration
    assert integration.account.is_service_account and integration.severity_map == {"critical": 1}
    change_page = admin_client.get(reverse("admin:api_alertintegration_change", args=[integration.pk])).content.decode()
    assert secret not in change_page and integration.prefix in change_page
    assert AuditLog.objects.get(action=Action.ALERT_INTEGRATION_CREATED).actor_username == "admin"


def test_a_duplicate_name_is_refused_with_a_message(admin_client):
    added(admin_client)
    response = added(admin_client, name="PROMETHEUS")
    assert "An integration with this name already exists." in response.content.decode()
    assert AlertIntegration.objects.count() == 1


def test_changing_is_audited_and_replacing_the_secret_retires_the_old_one(admin_client):
    [old] = SECRET.findall(added(admin_client).content.decode())
    integration = AlertIntegration.objects.get()
    admin_client.post(reverse("admin:api_alertintegration_change", args=[integration.pk]), {
        "name": "Prometheus", "kind": "alertmanager", "severity_label": "level", "severity_map": "{}",
        "default_severity": 2, "is_active": "on", "reopen_within_minutes": 0, "rate_limit_per_minute": 0})
    assert AuditLog.objects.get(action=Action.ALERT_INTEGRATION_CHANGED).changes["severity_label"] == ["severity", "level"]
    response = admin_client.post(reverse("admin:api_alertintegration_changelist"),
                                 {"action": "rotate_secret", "_selected_action": [integration.pk]}, follow=True)
    [new] = SECRET.findall(response.content.decode())
    assert integration_authenticate(old) is None and integration_authenticate(new) == integration


def test_alert_groups_are_listed_read_only(admin_client):
    added(admin_client)
    AlertGroup.objects.create(integration=AlertIntegration.objects.get(), key_digest="0" * 64, key="{}:{a=\"b\"}")
    response = admin_client.get(reverse("admin:api_alertgroup_changelist"))
    assert response.status_code == 200 and "{}:{a=&quot;b&quot;}" in response.content.decode()
    assert admin_client.get(reverse("admin:api_alertgroup_add")).status_code == 403


@pytest.mark.parametrize("mapping", ['["critical"]', '{"critical": 9}', '{"critical": "high"}'])
def test_a_severity_map_that_maps_to_no_severity_is_refused(admin_client, mapping):
    response = added(admin_client, severity_map=mapping)
    assert "Map each label value to a severity number from 1 to 4" in response.content.decode()
    assert not AlertIntegration.objects.exists()


def test_severity_map_keys_are_matched_regardless_of_case(admin_client):
    added(admin_client, severity_map='{"Critical": 1}')
    assert AlertIntegration.objects.get().severity_for(" CRITICAL ") == 1
