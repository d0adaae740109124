"""
The escalation end to end from a real Alertmanager: a critical alert it delivers to the
live server opens a SEV1 that pages the primary, then after the wait the secondary, who
acknowledges through the mail's link; nobody is paged after that, and the incident's
timeline shows it all. Time is moved by time_machine around the queue's runs only.
"""
from __future__ import annotations

import re
import pytest

from api.models import AlertGroup
from oncall.models import Escalation
from tests.alertmanager import alert, until
from tests.oncall.conftest import page_until_acknowledged

pytestmark = [pytest.mark.postgresql]


def test_a_critical_alert_from_alertmanager_pages_until_the_secondary_acknowledges(
        team, task_queue, smtp_sink, start_alertmanager, integration_secret):
    primary, secondary = team
    alertmanager = start_alertmanager(integration_secret)
    alertmanager.post(alert("DatabaseDown", "db-1", severity="critical"))
    until(lambda: AlertGroup.objects.filter(incident__isnull=False).exists())
    incident = AlertGroup.objects.select_related("incident").get().incident
    assert incident is not None and incident.severity == 1
    start = Escalation.objects.get(incident=incident).started_at
    client, _ = page_until_acknowledged(incident, start=start, team=team, work_queue=task_queue, sink=smtp_sink)
    timeline = client.get(incident.get_absolute_url()).content.decode()
    assert re.search(rf"{primary}</strong> was paged by mail\s+\(step 1\):\s+delivered\s", timeline)
    assert re.search(rf"{secondary}</strong> was paged by mail\s+\(step 2\):\s+delivered; acknowledged through",
                     timeline)
