"""A responder's own on-call page (their shifts and calendar address) and the calendar feed itself."""
from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone
from django.views import View
from django.views.generic import TemplateView

from accounts.types import AuthenticatedHttpRequest, request_user
from outbound.models import Format, Subscription
from outbound.services import page_channel_set, subscription_delete, subscription_test

from . import calendar
from .models import CalendarFeed, Schedule, SwapRequest, SwapStatus
from .schedules import on_call_now
from .forms import PageChannelForm, SwapRequestForm
from .services import calendar_feed_for, calendar_feed_rotate, swap_request_answer, swap_request_create


class ResponderMixin(LoginRequiredMixin):
    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        if request.user.is_authenticated and not request.user.is_staff:
            raise PermissionDenied("On-call is for responders.")
        return super().dispatch(request, *args, **kwargs)


class MyOnCallView(ResponderMixin, TemplateView):
    """Who is on call, the swap requests to and from the responder, and their calendar address."""

    template_name = "oncall/mine.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        user = request_user(self.request)
        feed = calendar_feed_for(user)
        swaps = SwapRequest.objects.select_related("schedule", "requester", "cover")
        kwargs.setdefault("swap_form", SwapRequestForm())
        page_channel = Subscription.objects.filter(owner=user).first()
        kwargs.setdefault("channel_form", PageChannelForm(instance=page_channel))
        return super().get_context_data(
            page_channel=page_channel,
            on_call=on_call_now(Schedule.objects.all(), at=timezone.now()),
            asked_of_me=swaps.filter(cover=user, status=SwapStatus.PENDING),
            # Every request of theirs for hours still to come; past ones are history.
            my_requests=swaps.filter(requester=user, ends_at__gte=timezone.now()),
            calendar_url=self.request.build_absolute_uri(reverse("oncall:calendar", args=[feed.secret])), **kwargs)

    def post(self, request: AuthenticatedHttpRequest) -> HttpResponse:
        """Ask someone to cover: the form is shown again with its errors when refused."""
        form = SwapRequestForm(request.POST)
        if form.is_valid():
            try:
                swap_request_create(requester=request.user, **form.cleaned_data)
            except ValidationError as error:
                form.add_error(None, error)
            else:
                messages.success(request, f"{form.cleaned_data['cover']} is asked to cover your hours.")
                return redirect("oncall:mine")
        return self.render_to_response(self.get_context_data(swap_form=form), status=400)


def _on_call_page(request: HttpRequest, *, status: int = 200, **context: Any) -> HttpResponse:
    """The responder's on-call page as the answer to another form's POST (its errors, or a secret shown once)."""
    view = MyOnCallView()
    view.setup(request)
    return view.render_to_response(view.get_context_data(**context), status=status)


class PageChannelView(ResponderMixin, View):
    """Set, test or remove the responder's own page channel; a new signed-JSON channel's secret is shown once."""

    http_method_names = ["post"]

    def post(self, request: AuthenticatedHttpRequest) -> HttpResponse:
        current = Subscription.objects.filter(owner=request.user).first()
        action = request.POST.get("action")
        if action not in ("test", "remove"):
            return self._save(request, current)
        if current is None:
            messages.error(request, "You have no page channel besides your mail.")
        elif action == "test":
            subscription_test(current, actor=request.user)
            messages.success(request, "A test message is on its way to your page channel.")
        else:
            subscription_delete(current, actor=request.user)
            messages.success(request, "You are paged by mail only from now on.")
        return redirect("oncall:mine")

    def _save(self, request: AuthenticatedHttpRequest, current: Subscription | None) -> HttpResponse:
        # The signing secret is shown once, when the channel first needs one: new, or turned from chat to signed JSON.
        had_secret_shown = current is not None and current.format == Format.STANDARD
        form = PageChannelForm(request.POST, instance=current)
        if not form.is_valid():
            return _on_call_page(request, status=400, channel_form=form)
        channel = page_channel_set(request.user, actor=request.user, **form.cleaned_data)
        messages.success(request, "You are paged there too from now on: send yourself a test message.")
        if channel.format == Format.STANDARD and not had_secret_shown:
            return _on_call_page(request, new_secret=channel.secret)
        return redirect("oncall:mine")


class SwapAnswerView(ResponderMixin, View):
    http_method_names = ["post"]

    def post(self, request: AuthenticatedHttpRequest, pk: int, answer: str) -> HttpResponse:
        if answer not in ("accept", "decline"):
            raise Http404("Answer accept or decline.")
        swap = get_object_or_404(SwapRequest, pk=pk, cover=request.user)
        try:
            swap_request_answer(swap, actor=request.user, accept=answer == "accept")
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, "You cover these hours now." if answer == "accept" else "Request declined.")
        return redirect("oncall:mine")


class CalendarRotateView(ResponderMixin, View):
    """A new secret address for the calendar; the old one stops working at once."""

    http_method_names = ["post"]

    def post(self, request: AuthenticatedHttpRequest) -> HttpResponse:
        calendar_feed_rotate(request.user)
        messages.success(request, "Your calendar has a new address; the old one no longer works.")
        return redirect("oncall:mine")


class CalendarFeedView(View):
    """The feed, found by its secret alone: calendar applications cannot sign in."""

    def get(self, request: HttpRequest, secret: str) -> HttpResponse:
        feed = CalendarFeed.objects.select_related("user").filter(secret=secret, user__is_active=True,
                                                                  user__is_staff=True).first()
        if feed is None:
            raise Http404("No such calendar.")
        response = HttpResponse(calendar.feed(feed.user, now=timezone.now()), content_type="text/calendar; charset=utf-8")
        response["Cache-Control"] = "private, max-age=300"
        return response
