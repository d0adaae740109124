"""
An administrator sets up a rotation and an escalation policy in the admin; the responder
on duty sees it, and adds a chat channel to be paged in beside their mail.
"""
from __future__ import annotations

from datetime import timedelta

import json

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from oncall.models import EscalationPolicy, Rotation
from tests.browser.test_journeys import sign_in
from tests.factories import make_totp_device, make_user, totp_code
from tests.outbound.conftest import receiver  # noqa: F401 (the receiver fixture)
from tests.processes import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_administrator_builds_a_rotation_and_a_policy_and_the_responder_sees_their_shift(
        new_page, screenshot, receiver):  # noqa: F811 (pytest passes the fixture imported above)
    administrator = make_user(username="ada", first_name="Ada", is_staff=True, is_superuser=True)
    responder = make_user(username="robin", first_name="Robin", last_name="Rivers", is_staff=True)
    page = new_page()
    sign_in(page, "ada", code=totp_code(make_totp_device(user=administrator)))

    page.goto("/admin/oncall/schedule/add/")
    page.get_by_label("Name").fill("Platform")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")

    page.goto("/admin/oncall/rotation/add/")
    page.get_by_label("Schedule").select_option(label="Platform")
    page.get_by_label("Name").fill("Weekly")
    page.locator('[name="shift"]').select_option("weekly")
    page.get_by_label("Starts on").fill((timezone.localdate() - timedelta(days=1)).isoformat())
    page.get_by_label("Handover").fill("09:00")
    page.get_by_label("Time zone").fill("Europe/Paris")
    page.locator('[name="members-0-user"]').select_option(label=str(responder))
    screenshot(page, "rotation")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")

    page.goto("/admin/oncall/escalationpolicy/add/")
    page.get_by_label("Name").fill("Production")
    page.locator('[name="steps-0-target"]').select_option("schedule")
    page.locator('[name="steps-0-schedule"]').select_option(label="Platform")
    page.locator('[name="steps-0-wait_minutes"]').fill("5")
    page.locator('[name="rules-0-severity"]').select_option(label="SEV1")
    screenshot(page, "policy")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    assert Rotation.objects.get().members.get().user == responder
    assert EscalationPolicy.objects.get().rules.get().severity == 1

    page.goto("/admin/oncall/schedule/")
    expect(page.locator("#result_list")).to_contain_text(f"{responder} until")
    screenshot(page, "schedules")

    on_duty = new_page()
    sign_in(on_duty, "robin", code=totp_code(make_totp_device(user=responder)))
    expect(on_duty.get_by_text("You are on call for Platform until")).to_be_visible()
    screenshot(on_duty, "dashboard")

    on_duty.goto("/oncall/")
    on_duty.get_by_label("Incoming webhook URL").fill(receiver.url)
    on_duty.get_by_label("What it expects").select_option("slack")
    on_duty.get_by_label("Your chat handle").fill("U0123ABCD")
    on_duty.get_by_role("button", name="Save", exact=True).click()
    expect(on_duty.get_by_text("You are paged there too from now on")).to_be_visible()
    on_duty.get_by_role("button", name="Send me a test message").click()
    expect(on_duty.get_by_text("A test message is on its way")).to_be_visible()
    wait_for(lambda: bool(receiver.received), timeout=10)
    assert json.loads(receiver.received[0].body)["text"].startswith("Incident #0 webhook.test")
    screenshot(on_duty, "page-channel")
