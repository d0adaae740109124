"""A responder sets up a webhook in the admin, sends a test event and finds it in the delivery log."""
from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from playwright.sync_api import expect

from outbound.models import Delivery, Status, Subscription
from tests.browser.test_journeys import sign_in
from tests.factories import make_totp_device, make_user, totp_code
from tests.outbound.conftest import receiver, run_queue  # noqa: F401 (the receiver fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_responder_adds_a_webhook_sends_a_test_event_and_sees_it_delivered(
        new_page, screenshot, receiver, database_queue):  # noqa: F811 (pytest passes the fixture imported above)
    call_command("seed", verbosity=0)
    responder = make_user(username="robin", first_name="Robin", is_staff=True)
    responder.groups.add(Group.objects.get(name="Responders"))
    page = new_page()
    sign_in(page, "robin", code=totp_code(make_totp_device(user=responder)))
    page.goto("/admin/outbound/subscription/add/")
    page.get_by_label("Name").fill("Status page")
    page.get_by_label("Target URL").fill(receiver.url)
    page.get_by_label("incident reported").check()
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".messagelist")).to_contain_text("copy it now: it is not shown again")
    secret = Subscription.objects.get(name="Status page").secret
    expect(page.locator(".messagelist")).to_contain_text(secret)
    screenshot(page, "subscription-saved")

    page.get_by_role("checkbox", name="Select this object for an action - Status page").check()
    page.get_by_role("combobox", name="Action").select_option("send_test_event")
    page.get_by_role("button", name="Go").click()
    expect(page.locator(".messagelist")).to_contain_text("Test event queued for 1 subscription(s)")
    run_queue()

    page.get_by_role("link", name="log").click()
    expect(page.locator("#result_list")).to_contain_text("webhook.test")
    expect(page.locator("#result_list")).to_contain_text("delivered")
    expect(page.locator("#result_list")).to_contain_text("200")
    screenshot(page, "delivery-log")
    assert Delivery.objects.get().status == Status.DELIVERED
    assert receiver.received[0].headers["webhook-id"] == Delivery.objects.get().message_id
