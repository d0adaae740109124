from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import default_storage
from django.db import transaction
from django.http import (
    FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect, StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.views import View
from django.views.generic import DetailView, FormView, TemplateView

from accounts.limits import counted
from accounts.models import User, name_fields
from accounts.types import AuthenticatedHttpRequest, request_user
from audit.models import Action, AuditLog
from audit.services import audit_record
from oncall import services as oncall
from oncall.models import Page, Schedule
from oncall.schedules import on_call_now

from . import dashboard, permissions
from .export import csv_lines
from .forms import CommentForm, IncidentEditForm, IncidentFilterForm, IncidentReportForm, TransitionForm, list_order
from .models import Attachment, Comment, Incident, IncidentQuerySet
from .pagination import COUNT_CAP, InvalidCursor, KeysetPage, bounded_count, keyset_page
from .search import NEWEST_FIRST, RANKED_MATCHES, search_page
from .services import (
    ReportLimitReached, StaleIncidentError, attachment_remove, comment_add, incident_acknowledge, incident_create,
    incident_report_count, incident_transition, incident_update,
)
from .workflow import transitions_from


class VisibleIncidentMixin(LoginRequiredMixin):
    """Scopes every lookup to what the user may see, so anyone else's incident is a 404."""

    request: HttpRequest
    kwargs: dict[str, Any]

    @property
    def user(self) -> User:
        return request_user(self.request)

    def get_queryset(self) -> IncidentQuerySet:
        return Incident.objects.visible_to(self.user).for_list()

    def get_incident(self) -> Incident:
        return get_object_or_404(self.get_queryset(), pk=self.kwargs["pk"])


class DashboardView(LoginRequiredMixin, TemplateView):
    """
    What needs attention now. Everyone sees their own open reports and their recently
    updated ones; responders also get the queues and the figures of `dashboard`.
    """

    template_name = "incidents/dashboard.html"
    list_size = 5

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        user = request_user(self.request)
        if user.is_staff:
            context.update(dashboard.staff_figures(now=timezone.localtime()), window_days=dashboard.WINDOW_DAYS)
            on_call = on_call_now(Schedule.objects.all(), at=timezone.now())
            mine = [(schedule, shift) for schedule, shift, _ in on_call if shift and shift.person.pk == user.pk]
            context.update(on_call=on_call, my_shifts=mine)
        context.update(self.queues(user))
        return context

    def queues(self, user: User) -> dict[str, list[dict[str, Any]]]:
        rows = Incident.objects.visible_to(user)
        unresolved = rows.filter(status__in=dashboard.UNRESOLVED)
        queues = {
            "my_open": unresolved.filter(reporter=user),
            "recently_updated": rows.filter(reporter=user).order_by("-updated_at", "-id"),
        }
        if user.is_staff:
            by_urgency = ("severity", "created_at", "id")
            queues.update(
                unassigned=unresolved.filter(assignee__isnull=True).order_by(*by_urgency),
                my_queue=unresolved.filter(assignee=user).order_by(*by_urgency),
            )
        return dashboard.first_rows(queues, self.list_size)


class IncidentListView(VisibleIncidentMixin, TemplateView):
    """
    The list pages with keyset cursors (`after` / `before`) rather than page numbers, and
    counts only up to COUNT_CAP: each request reads one page through an index, whatever
    the size of the table (docs/performance.md).
    """

    template_name = "incidents/incident_list.html"
    page_size = 25

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        filter_form = IncidentFilterForm(self.request.GET)
        filters = filter_form.valid_filters()
        filtered = Incident.objects.visible_to(self.user).filtered(filters, user=self.user)
        after, before = self.request.GET.get("after", ""), self.request.GET.get("before", "")
        try:
            page, total = self.page_and_total(filtered, filters, after=after, before=before)
        except InvalidCursor:
            messages.info(self.request, "That page link is out of date; here is the first page.")
            page, total = self.page_and_total(filtered, filters)
        query = self.request.GET.copy()
        for name in ("after", "before"):
            query.pop(name, None)
        context.update(
            filter_form=filter_form, incidents=page.rows, page=page, query_string=query.urlencode(),
            total=total, count_cap=COUNT_CAP, ranked_by_relevance=list_order(filters) == "relevance",
            ranked_matches=RANKED_MATCHES,
        )
        return context

    def page_and_total(self, filtered: IncidentQuerySet, filters: dict[str, Any], *, after: str = "",
                       before: str = "") -> tuple[KeysetPage[dict[str, Any]], int]:
        """One page of the list and how many incidents match, up to COUNT_CAP."""
        if "q" in filters:
            filtered = filtered.search(filters["q"])
            page = search_page(filtered.table_values("rank"), order=list_order(filters), size=self.page_size,
                               after=after, before=before)
        else:
            ordered = filtered.in_list_order(list_order(filters))
            page = keyset_page(ordered.table_values(), size=self.page_size, after=after, before=before)
        if not (after or before) and page.next_cursor is None:
            # The first page holds every match: counting them again would be one more query, and
            # for two words PostgreSQL misjudges, a walk of the table (docs/performance.md, "Search").
            return page, len(page.rows)
        return page, bounded_count(filtered)


EXPORT_WINDOW = timedelta(hours=1)


class IncidentExportView(VisibleIncidentMixin, View):
    """
    The list's current filters as a CSV download: every match, newest first whatever the
    list's order (a search's ranked matches bound its pages, not the file). The audit row
    is written before the first byte is sent: it records who exported and which filters,
    because a streamed download has no reliable end (the client may stop reading) at
    which to count rows. One row per export, and at most INCIDENT_EXPORTS_PER_HOUR
    exports per person an hour (counted in the database), so exports cannot flood the
    audit log.
    """

    def get(self, request: HttpRequest) -> HttpResponseBase:
        if counted(f"incident-exports:{self.user.pk}", window=EXPORT_WINDOW) > settings.INCIDENT_EXPORTS_PER_HOUR:
            return HttpResponse(
                f"You have exported the incident list {settings.INCIDENT_EXPORTS_PER_HOUR} times this hour, the most "
                "anyone may. Try again later.", status=429, content_type="text/plain; charset=utf-8",
                headers={"Retry-After": str(int(EXPORT_WINDOW.total_seconds()))})
        filters = IncidentFilterForm(request.GET).valid_filters()
        incidents = self.get_queryset().matching(filters, user=self.user).order_by(*NEWEST_FIRST)
        audit_record(
            Action.INCIDENTS_EXPORTED,
            actor=self.user,
            target_label="Incidents as CSV",
            changes={"filters": [None, {name: _display_filter(value) for name, value in filters.items()}]},
        )
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        return StreamingHttpResponse(
            csv_lines(incidents, zone=timezone.get_current_timezone()),
            content_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="incidents-{stamp}.csv"'},
        )


def _display_filter(value: Any) -> Any:
    return value if isinstance(value, (str, int)) else str(value)


class IncidentCreateView(LoginRequiredMixin, FormView):
    template_name = "incidents/incident_form.html"
    form_class = IncidentReportForm

    def form_valid(self, form: IncidentReportForm) -> HttpResponse:
        values = dict(form.cleaned_data)
        try:
            incident_report_count(request_user(self.request))
        except ReportLimitReached as refusal:
            form.add_error(None, str(refusal))
            return self.render_to_response(self.get_context_data(form=form), status=429)
        try:
            incident, created = incident_create(reporter=request_user(self.request), files=values.pop("attachments"),
                                                **values)
        except ValidationError as error:
            # Text that sanitises to nothing (only markup), or a refused file, is shown on its field.
            form.add_error(None, error)
            return self.form_invalid(form)
        if created:
            messages.success(self.request, f"Incident #{incident.pk} reported. Responders have been told.")
        else:
            messages.info(self.request, f"This report was already submitted as incident #{incident.pk}.")
        return redirect(incident)


class IncidentDetailView(VisibleIncidentMixin, DetailView):
    """One incident with its comments and timeline, and the actions the reader may take."""

    template_name = "incidents/incident_detail.html"
    context_object_name = "incident"

    def get_queryset(self) -> IncidentQuerySet:
        return Incident.objects.visible_to(self.user).for_page()

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        incident, user = self.object, self.user
        comments = list(Comment.objects.visible_to(user).filter(incident=incident).select_related("author").only(
            "incident", "author", "body", "internal", "created_at", *name_fields("author")))
        # Every attachment the reader may see in one query, handed to the report and each comment.
        by_comment: dict[int | None, list[Attachment]] = {}
        for attachment in Attachment.objects.visible_to(user).filter(incident=incident):
            by_comment.setdefault(attachment.comment_id, []).append(attachment)
        for comment in comments:
            comment.shown_attachments = by_comment.get(comment.pk, [])  # type: ignore[attr-defined]
        context.update(
            comments=comments,
            attachments=by_comment.get(None, []),
            can_manage_attachments=permissions.can_manage_attachments(user),
            comment_form=kwargs.get("comment_form")
            or CommentForm(can_write_internal_note=permissions.can_write_internal_note(user)),
            transitions=transitions_from(incident.status) if permissions.can_transition(user, incident) else [],
            can_edit=permissions.can_edit(user, incident),
            # The actor by display name (joined, no extra query); the row's actor_username is a login name.
            timeline=AuditLog.objects.for_target(incident._meta.label_lower, incident.pk).visible_to(user)
            .select_related("actor").only("created_at", "actor_id", "action", "changes", "via", *name_fields("actor")),
            can_take=permissions.can_triage(user) and incident.assignee_id != user.pk,
            can_acknowledge=permissions.can_triage(user) and incident.acknowledged_at is None,
            # Most incidents were never escalated: their page skips the query for pages.
            pages=Page.objects.for_incident(incident.pk)
            if permissions.can_triage(user) and hasattr(incident, "escalation") else [],
        )
        return context


class IncidentEditView(VisibleIncidentMixin, FormView):
    template_name = "incidents/incident_edit.html"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        self.incident = self.get_incident()
        if not permissions.can_edit(self.user, self.incident):
            messages.error(request, "This incident can no longer be edited by its reporter: it is being worked on.")
            return redirect(self.incident)
        return super().dispatch(request, *args, **kwargs)

    def get_form(self, form_class: Any = None) -> IncidentEditForm:
        return IncidentEditForm(
            **self.get_form_kwargs(), can_triage=permissions.can_triage(self.user),
            can_set_severity=permissions.can_set_severity(self.user, self.incident),
        )

    def get_initial(self) -> dict[str, Any]:
        return IncidentEditForm.initial_for(self.incident)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(incident=self.incident, **kwargs)

    def form_valid(self, form: IncidentEditForm) -> HttpResponse:
        values = dict(form.cleaned_data)
        expected_version = values.pop("version")
        try:
            incident = incident_update(
                self.incident, actor=self.user, expected_version=expected_version, **values
            )
        except StaleIncidentError as stale:
            return self.refuse_stale(form, stale.current)
        except ValidationError as error:
            form.add_error(None, error)
            return self.form_invalid(form)
        messages.success(self.request, "Incident updated.")
        return redirect(incident)

    def refuse_stale(self, form: IncidentEditForm, current: Incident) -> HttpResponse:
        """Keep what the user typed, show what changed meanwhile, and arm the form with the new version."""
        data = self.request.POST.copy()
        data["version"] = str(current.version)
        form.data = data
        form.add_error(
            None,
            "Someone else changed this incident while you were editing it. Their version is shown below; "
            "review it, then save again to apply your changes on top.",
        )
        return self.render_to_response(self.get_context_data(form=form, current=current))


STALE_ACTION_MESSAGE = "This incident changed since you loaded the page; nothing was done. Check it and try again."


class IncidentActionView(VisibleIncidentMixin, View):
    """Base for the POST-only actions on one incident; GET never changes anything."""

    http_method_names = ["post"]


class CommentCreateView(IncidentDetailView):
    """Posts a comment; a refused one shows the incident page again with the form's errors."""

    http_method_names = ["post"]

    def post(self, request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
        self.object = incident = self.get_object()
        form = CommentForm(request.POST, request.FILES,
                           can_write_internal_note=permissions.can_write_internal_note(request.user))
        if form.is_valid():
            try:
                comment = comment_add(
                    incident, author=request.user, body=form.cleaned_data["body"],
                    internal=form.cleaned_data.get("internal", False), files=form.cleaned_data["attachments"],
                )
            except ValidationError as error:
                form.add_error(None, error)
            else:
                messages.success(request, "Internal note added." if comment.internal else "Comment added.")
                return HttpResponseRedirect(f"{incident.get_absolute_url()}#comment-{comment.pk}")
        return self.render_to_response(self.get_context_data(comment_form=form), status=400)


class IncidentTransitionView(IncidentActionView):
    def post(self, request: AuthenticatedHttpRequest, pk: int, name: str) -> HttpResponse:
        incident = self.get_incident()
        if not permissions.can_transition(request.user, incident):
            raise PermissionDenied("Only responders may change an incident's status.")
        form = TransitionForm(request.POST)
        if not form.is_valid():
            # No version (or a bad one) says nothing about what the page showed: refused like a stale page.
            messages.error(request, STALE_ACTION_MESSAGE)
            return redirect(incident)
        try:
            incident = incident_transition(incident, actor=request.user, name=name,
                                           expected_version=form.cleaned_data["version"])
        except StaleIncidentError:
            messages.error(request, STALE_ACTION_MESSAGE)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, f"Incident is now {incident.get_status_display()}.")
        return redirect(incident)


class IncidentTakeView(IncidentActionView):
    """A responder assigns the incident to themselves in one click from the detail page."""

    def post(self, request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
        incident = self.get_incident()
        if not permissions.can_triage(request.user):
            raise PermissionDenied("Only responders may assign incidents.")
        form = TransitionForm(request.POST)
        if not form.is_valid():
            messages.error(request, STALE_ACTION_MESSAGE)
            return redirect(incident)
        try:
            incident = incident_update(incident, actor=request.user, expected_version=form.cleaned_data["version"],
                                       assignee=request.user)
        except StaleIncidentError:
            messages.error(request, STALE_ACTION_MESSAGE)
        else:
            messages.success(request, "The incident is assigned to you.")
        return redirect(incident)


class IncidentAcknowledgeView(IncidentActionView):
    """The "Acknowledge" button: a responder takes note of the incident and the paging stops."""

    def post(self, request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
        incident = incident_acknowledge(self.get_incident(), actor=request.user)
        messages.success(request, f"Acknowledged; paging stopped. (Acknowledged by {incident.acknowledged_by}.)")
        return redirect(incident)


class AcknowledgeLinkView(LoginRequiredMixin, TemplateView):
    """
    The link in a page. Opening it shows one button (GET changes nothing: mail
    scanners open links); pressing it acknowledges the incident. The link works once,
    expires, and asks for sign-in first when the session is gone.
    """

    template_name = "incidents/acknowledge_link.html"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not permissions.can_triage(request_user(request)):
            raise PermissionDenied("Only responders may acknowledge incidents.")
        try:
            page = oncall.link_page(kwargs["token"])
        except ValidationError as error:
            return self.render_to_response({"error": " ".join(error.messages)}, status=410)
        return self.render_to_response({"page": page, "incident": page.escalation.incident})

    def post(self, request: AuthenticatedHttpRequest, token: str) -> HttpResponse:
        if not permissions.can_triage(request.user):
            raise PermissionDenied("Only responders may acknowledge incidents.")
        try:
            page = oncall.link_page(token)
        except ValidationError as error:
            return self.render_to_response({"error": " ".join(error.messages)}, status=410)
        with transaction.atomic():
            if not oncall.link_use(page):
                return self.render_to_response({"error": "This acknowledge link has already been used."}, status=410)
            incident = incident_acknowledge(page.escalation.incident, actor=request.user)
        messages.success(request, "Acknowledged; paging stopped.")
        return redirect(incident)


class AttachmentDownloadView(LoginRequiredMixin, View):
    """
    The only way to an attachment's bytes. The lookup applies the incident's visibility
    (Attachment.objects.visible_to), so another reporter's file, or an internal note's
    for a reporter, is a 404 like any unknown address. The file is always a download,
    never a page: `Content-Disposition: attachment`, no content sniffing, and a sandbox
    policy in case a browser renders it anyway. `?inline` shows a raster image in place
    (the incident page's thumbnails) and is a 404 for anything else.
    """

    def get(self, request: AuthenticatedHttpRequest, pk: int, attachment_pk: int) -> FileResponse:
        attachment = get_object_or_404(Attachment.objects.visible_to(request.user), incident_id=pk, pk=attachment_pk)
        inline = "inline" in request.GET
        if inline and not attachment.is_raster_image:
            raise Http404("Only images are shown inline.")
        try:
            file = default_storage.open(attachment.stored_name, "rb")
        except FileNotFoundError:
            raise Http404("The file of this attachment is missing.")
        response = FileResponse(file, as_attachment=not inline, filename=attachment.name,
                                content_type=attachment.content_type)
        response["X-Content-Type-Options"] = "nosniff"
        response["Content-Security-Policy"] = "sandbox; default-src 'none'"
        response["Cross-Origin-Resource-Policy"] = "same-origin"
        return response


class AttachmentRemoveView(IncidentActionView):
    """A responder removes an attachment from the incident page; the audit row keeps its name and hash."""

    def post(self, request: AuthenticatedHttpRequest, pk: int, attachment_pk: int) -> HttpResponse:
        attachment = get_object_or_404(Attachment.objects.visible_to(request.user).select_related("incident"),
                                       incident_id=pk, pk=attachment_pk)
        if not permissions.can_manage_attachments(request.user):
            raise PermissionDenied("Only responders may remove attachments.")
        attachment_remove(attachment, actor=request.user)
        messages.success(request, f"Attachment “{attachment.name}” removed.")
        return redirect(attachment.incident)
