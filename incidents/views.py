from __future__ import annotations

import secrets
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import EmptyResultSet, PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect, StreamingHttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, redirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views import View
from django.views.generic import DetailView, FormView, TemplateView
from django.views.generic.base import ContextMixin, TemplateResponseMixin

from accounts.models import User
from accounts.types import AuthenticatedHttpRequest, request_user
from audit.models import Action, AuditLog
from audit.services import audit_record

from . import dashboard, permissions
from .export import csv_lines
from .forms import SORT_ORDERS, CommentForm, IncidentEditForm, IncidentFilterForm, IncidentReportForm, TransitionForm
from .models import Comment, Incident, IncidentQuerySet
from .kept import KeptMarkup, kept_markup, kept_results
from .names import categories_named, people_named
from .pagination import COUNT_CAP, InvalidCursor, KeysetPage, bounded_count, keyset_page
from .services import StaleIncidentError, comment_add, incident_create, incident_transition, incident_update
from .workflow import transitions_from


def filter_incidents(queryset: IncidentQuerySet, filters: dict[str, Any], user: User) -> IncidentQuerySet:
    """Apply the list's validated filters, search and sort (see IncidentFilterForm)."""
    if "status" in filters:
        queryset = queryset.filter(status=filters["status"])
    if "severity" in filters:
        queryset = queryset.filter(severity=filters["severity"])
    if "category" in filters:
        queryset = queryset.filter(category=filters["category"])
    assignee = filters.get("assignee")
    if assignee == "me":
        queryset = queryset.filter(assignee=user)
    elif assignee == "none":
        queryset = queryset.filter(assignee__isnull=True)
    elif assignee:
        queryset = queryset.filter(assignee_id=int(assignee))
    sort = filters.get("sort", "relevance" if "q" in filters else "newest")
    if "q" in filters:
        queryset = queryset.search(filters["q"])
    elif sort == "relevance":
        sort = "newest"
    return queryset.order_by(*SORT_ORDERS[sort])


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


# Stands where a CSRF token goes in kept markup; each response puts its own token there.
# Random per process, so no text a user typed can contain it.
CSRF_TOKEN_PLACEHOLDER = f"csrf-token-{secrets.token_hex(16)}"
# The page around kept content: the header, the messages and the footer (base.html).
FRAME_TEMPLATE = "page.html"


class KeptPageMixin(TemplateResponseMixin, ContextMixin):
    """
    A page whose content is the same for every request of one reader until the next write,
    but for its relative times: the rendered page is kept by each worker for a minute
    (incidents/kept.py), and a request that finds it only puts its own CSRF token in. When
    there is a message for the reader, the frame around the content (templates/page.html:
    header, messages) is rendered again.
    """

    request: HttpRequest
    title = ""
    # False once the content says something that holds for this request only.
    keep_page = True

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        # Tables show times in the reader's time zone.
        identity = (request.user.pk, timezone.get_current_timezone_name(), request.get_full_path())
        return self.framed(kept_markup(identity, lambda: self.markup(self.read_context(**kwargs))))

    def read_context(self, **kwargs: Any) -> dict[str, Any]:
        return self.get_context_data(**kwargs)

    def page_title(self, context: dict[str, Any]) -> str:
        return self.title

    def markup(self, context: dict[str, Any]) -> KeptMarkup:
        content = render_to_string(self.get_template_names(), {**context, "csrf_token": CSRF_TOKEN_PLACEHOLDER},
                                   self.request)
        title = self.page_title(context)
        page = render_to_string(FRAME_TEMPLATE, {"title": title, "content": mark_safe(content),
                                                 "csrf_token": CSRF_TOKEN_PLACEHOLDER, "messages": ()}, self.request)
        return KeptMarkup(title, content, page, keep=self.keep_page)

    def render_to_response(self, context: dict[str, Any], **response_kwargs: Any) -> HttpResponse:
        return self.framed(self.markup(context), **response_kwargs)

    def framed(self, markup: KeptMarkup, **response_kwargs: Any) -> HttpResponse:
        # One masked token for the whole page, the header's sign-out form included.
        token = get_token(self.request)
        if not messages.get_messages(self.request):
            return HttpResponse(markup.page.replace(CSRF_TOKEN_PLACEHOLDER, token), **response_kwargs)
        content = mark_safe(markup.content.replace(CSRF_TOKEN_PLACEHOLDER, token))
        return TemplateResponse(self.request, FRAME_TEMPLATE, {"title": markup.title, "content": content,
                                                               "csrf_token": token}, **response_kwargs)


class DashboardView(LoginRequiredMixin, KeptPageMixin, TemplateView):
    """
    What needs attention now. Everyone sees their own open reports and their recently
    updated ones; responders also get the queues and the figures of `dashboard`.
    """

    template_name = "incidents/dashboard.html"
    title = "Dashboard"
    list_size = 5

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        user = request_user(self.request)
        if user.is_staff:
            figures = dashboard.staff_figures(Incident.objects.visible_to(user), now=timezone.localtime())
            context.update(**figures, window_days=dashboard.WINDOW_DAYS)
        # The queues are kept until the next write (incidents/kept.py): the dashboard is
        # the page people keep open and reload.
        context.update(kept_results(("dashboard-queues", user.pk, user.is_staff, self.list_size),
                                    partial(self.queues, user)))
        return context

    def queues(self, user: User) -> dict[str, list[Incident]]:
        rows = Incident.objects.visible_to(user).for_table()
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


class IncidentListView(VisibleIncidentMixin, KeptPageMixin, TemplateView):
    """
    The list pages with keyset cursors (`after` / `before`) rather than page numbers, and
    counts only up to COUNT_CAP: each request reads one page through an index, whatever
    the size of the table, and a page read is kept until the next write
    (docs/performance.md).
    """

    template_name = "incidents/incident_list.html"
    title = "Incidents"
    page_size = 25

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        filter_form = IncidentFilterForm(self.request.GET)
        filters = filter_form.valid_filters()
        incidents = filter_incidents(Incident.objects.visible_to(self.user).for_table(), filters, self.user)
        after, before = self.request.GET.get("after", ""), self.request.GET.get("before", "")
        try:
            page, total = self.kept_page_and_total(incidents, after, before)
        except InvalidCursor:
            messages.info(self.request, "That page link is out of date; here is the first page.")
            # Kept, this first page would come back for the same link without the message.
            self.keep_page = False
            page, total = self.page_and_total(incidents, "", "")
        query = self.request.GET.copy()
        for name in ("after", "before"):
            query.pop(name, None)
        context.update(
            filter_form=filter_form, incidents=page.rows, page=page, query_string=query.urlencode(),
            total=total, count_cap=COUNT_CAP,
        )
        return context

    def page_and_total(self, incidents: IncidentQuerySet, after: str, before: str) -> tuple[KeysetPage[Incident], int]:
        return keyset_page(incidents, size=self.page_size, after=after, before=before), bounded_count(incidents)

    def kept_page_and_total(self, incidents: IncidentQuerySet, after: str, before: str
                            ) -> tuple[KeysetPage[Incident], int]:
        """The page and count, kept until the next write (incidents/kept.py), keyed by the exact query."""
        try:
            statement = incidents.query.sql_with_params()
        except EmptyResultSet:  # the text held no word: there is nothing to search, or to keep
            return self.page_and_total(incidents, after, before)
        return kept_results((*statement, after, before, self.page_size),
                            partial(self.page_and_total, incidents, after, before))


class IncidentExportView(VisibleIncidentMixin, View):
    """
    The list's current filters as a CSV download. The audit row is written before the
    first byte is sent: it records who exported and which filters, because a streamed
    download has no reliable end (the client may stop reading) at which to count rows.
    """

    def get(self, request: HttpRequest) -> StreamingHttpResponse:
        filters = IncidentFilterForm(request.GET).valid_filters()
        incidents = filter_incidents(self.get_queryset(), filters, self.user)
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
        try:
            incident, created = incident_create(reporter=request_user(self.request), **form.cleaned_data)
        except ValidationError as error:
            # Text that sanitises to nothing (only markup) is refused like an empty field.
            form.add_error(None, error)
            return self.form_invalid(form)
        if created:
            messages.success(self.request, f"Incident #{incident.pk} reported. Responders have been told.")
        else:
            messages.info(self.request, f"This report was already submitted as incident #{incident.pk}.")
        return redirect(incident)


@dataclass
class IncidentPage:
    """What the detail page reads for one kind of reader, kept until the next write."""

    incident: Incident
    comments: list[tuple[Comment, str]]  # each comment with its author's name
    timeline: list[AuditLog]


class IncidentDetailView(VisibleIncidentMixin, KeptPageMixin, DetailView):
    """
    One incident with its comments and timeline. What the page reads is kept until the
    next committed write to an incident, a comment or a user (incidents/kept.py), keyed
    by what the reader may see: everything for responders, the reporter's own incident
    without internal notes otherwise. Rights and actions are worked out afresh on every
    request.
    """

    template_name = "incidents/incident_detail.html"
    context_object_name = "incident"

    def read_context(self, **kwargs: Any) -> dict[str, Any]:
        self.object = self.get_object()
        return self.get_context_data(object=self.object)

    def page_title(self, context: dict[str, Any]) -> str:
        return f"Incident #{self.object.pk}"

    def get_object(self, queryset: Any = None) -> Incident:
        user = self.user
        reader = ("responder",) if user.is_staff else ("reporter", user.pk)
        self.page: IncidentPage | None = kept_results(("incident-page", int(self.kwargs["pk"]), *reader), self.read)
        if self.page is None:
            raise Http404("No incident matches the given query.")
        return self.page.incident

    def read(self) -> IncidentPage | None:
        user = self.user
        incident = Incident.objects.visible_to(user).for_detail().filter(pk=self.kwargs["pk"]).first()
        if incident is None:
            return None
        comments = list(Comment.objects.visible_to(user).filter(incident=incident).only(
            "incident_id", "author_id", "body", "internal", "created_at"
        ))
        # Comments come from the reporter and responders: named without a query, as a rule.
        authors = {incident.reporter_id: str(incident.reporter),
                   **people_named(comment.author_id for comment in comments if comment.author_id != incident.reporter_id)}
        timeline = AuditLog.objects.for_target(incident._meta.label_lower, incident.pk).visible_to(user).only(
            "created_at", "actor_username", "action", "changes"
        )
        return IncidentPage(incident, [(comment, authors[comment.author_id]) for comment in comments], list(timeline))

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        incident, user, page = self.object, self.user, self.page
        assert page is not None
        context.update(
            category_name=categories_named([incident.category_id]).get(incident.category_id),
            assignee_name=people_named([incident.assignee_id]).get(incident.assignee_id),
            comments=page.comments,
            comment_form=kwargs.get("comment_form")
            or CommentForm(can_write_internal_note=permissions.can_write_internal_note(user)),
            transitions=transitions_from(incident.status) if permissions.can_transition(user, incident) else [],
            can_edit=permissions.can_edit(user, incident),
            timeline=page.timeline,
            can_take=permissions.can_triage(user) and incident.assignee_id != user.pk,
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
            **self.get_form_kwargs(), can_triage=permissions.can_triage(self.user)
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


class CommentCreateView(IncidentActionView):
    def post(self, request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
        incident = self.get_incident()
        can_note = permissions.can_write_internal_note(request.user)
        form = CommentForm(request.POST, can_write_internal_note=can_note)
        if form.is_valid():
            try:
                comment = comment_add(
                    incident, author=request.user, body=form.cleaned_data["body"],
                    internal=form.cleaned_data.get("internal", False),
                )
            except ValidationError as error:
                form.add_error("body", error.message_dict.get("body", error.messages))
            else:
                messages.success(request, "Internal note added." if comment.internal else "Comment added.")
                return HttpResponseRedirect(f"{incident.get_absolute_url()}#comment-{comment.pk}")
        view = IncidentDetailView(request=request, kwargs={"pk": pk})
        view.object = view.get_object()
        return view.render_to_response(view.get_context_data(comment_form=form), status=400)


class IncidentTransitionView(IncidentActionView):
    def post(self, request: AuthenticatedHttpRequest, pk: int, name: str) -> HttpResponse:
        incident = self.get_incident()
        if not permissions.can_transition(request.user, incident):
            raise PermissionDenied("Only responders may change an incident's status.")
        form = TransitionForm(request.POST)
        expected_version = form.cleaned_data["version"] if form.is_valid() else None
        try:
            incident = incident_transition(incident, actor=request.user, name=name,
                                           expected_version=expected_version)
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
