"""
The REST API's resources. Each view scopes what it reads with the same QuerySet methods
as the web pages and writes only through incidents.services, so the rules (who sees,
edits, comments, moves an incident) and the audit trail are the web's own.
"""
from __future__ import annotations

import re
from typing import Any
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import PermissionDenied, Throttled, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import Serializer
from rest_framework.views import APIView

from accounts.models import ApiToken, User, name_fields
from audit.models import AuditLog
from incidents import permissions
from incidents.forms import IncidentFilterForm, list_order
from incidents.models import Category, Comment, Incident
from incidents.pagination import InvalidCursor, keyset_page
from incidents.search import RANKED_MATCHES, search_page
from incidents.services import (
    ReportLimitReached,
    StaleIncidentError,
    comment_add,
    incident_acknowledge,
    incident_create,
    incident_report_count,
    incident_transition,
    incident_update,
)
from incidents.workflow import transitions_from

from oncall.models import Schedule
from oncall.schedules import on_call_now

from .problems import Conflict, PreconditionFailed, PreconditionRequired, problem_responses
from .serializers import (
    CategorySerializer,
    CommentCreateSerializer,
    CommentSerializer,
    IncidentCreateSerializer,
    IncidentPageSerializer,
    IncidentSerializer,
    IncidentUpdateSerializer,
    MeSerializer,
    OnCallSerializer,
    TimelineEntrySerializer,
    TransitionSerializer,
)

PAGE_SIZE = 25
LIST_PARAMETERS = {"q", "status", "severity", "category", "assignee", "sort", "after", "before"}
ETAG = re.compile(r'^(?:W/)?"v(\d+)"$')


def etag(incident: Incident) -> str:
    return f'"v{incident.version}"'


def expected_version(request: Request) -> int:
    """The version the client's If-Match names; 428 without one, 412 for one that names no version."""
    header = request.headers.get("If-Match", "").strip()
    if not header:
        raise PreconditionRequired()
    match = ETAG.match(header)
    if match is None:
        raise PreconditionFailed()
    return int(match.group(1))


def page_link(request: Request, name: str, cursor: str | None) -> str | None:
    """This list's address with the same query and `name` (`after` or `before`) set to `cursor`; None without one."""
    if cursor is None:
        return None
    query = request.query_params.copy()
    query.pop("after", None)
    query.pop("before", None)
    query[name] = cursor
    return request.build_absolute_uri(f"{request.path}?{query.urlencode()}")


# Comments and timeline entries per response; a `Link` header leads to the rest.
SUBLIST_PAGE = 200
AFTER = OpenApiParameter("after", int, description="Continue after this comment id or timeline sequence: follow "
                                                   "the `Link: <...>; rel=\"next\"` header, sent while more follow.")


class ApiView(APIView):
    @property
    def user(self) -> User:
        user = self.request.user
        assert isinstance(user, User)
        return user

    def visible_incident(self, pk: int) -> Incident:
        """The incident if the caller may see it; 404 otherwise, as on the web."""
        return get_object_or_404(Incident.objects.visible_to(self.user).for_list(), pk=pk)

    def incident_answer(self, pk: int, *, status: int = 200, **headers: str) -> Response:
        """The incident as it is now, with its version as the ETag."""
        incident = self.visible_incident(pk)
        return Response(IncidentSerializer(incident).data, status=status, headers={"ETag": etag(incident), **headers})

    def bounded(self, rows: QuerySet[Any], *, key: str) -> tuple[list[Any], dict[str, str]]:
        """
        At most SUBLIST_PAGE of `rows` (oldest first) after the `after` parameter's `key`,
        and a `Link: <...>; rel="next"` header when more follow, so a long list is never
        cut silently: the client follows the link for the rest.
        """
        after = self.request.query_params.get("after", "")
        if after and not after.isdigit():
            raise ValidationError({"after": ["A whole number: the last id (comments) or sequence (timeline) you have."]})
        if after:
            rows = rows.filter(**{f"{key}__gt": int(after)})
        page = list(rows.order_by(key)[:SUBLIST_PAGE + 1])
        if len(page) <= SUBLIST_PAGE:
            return page, {}
        page = page[:SUBLIST_PAGE]
        query = self.request.query_params.copy()
        query["after"] = str(getattr(page[-1], key))
        return page, {"Link": f'<{self.request.build_absolute_uri(self.request.path)}?{query.urlencode()}>; rel="next"'}

    def validated(self, serializer_class: type[Serializer]) -> dict[str, Any]:
        serializer = serializer_class(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)


class IncidentListView(ApiView):
    @extend_schema(
        operation_id="incidents_list",
        summary="List incidents",
        description="The web list's filters, search and sorts, one page of 25 at a time. Follow `next` and "
                    "`previous`: their cursors keep the order stable while incidents are added.",
        parameters=[
            OpenApiParameter("q", str, description="Search text (title, description, public comments)."),
            OpenApiParameter("status", str, enum=["open", "in_progress", "resolved", "closed"]),
            OpenApiParameter("severity", int, enum=[1, 2, 3, 4]),
            OpenApiParameter("category", int, description="A category id."),
            OpenApiParameter("assignee", str, description="`me`, `none`, or a responder's user id."),
            OpenApiParameter("sort", str, enum=["newest", "oldest", "severity", "updated"],
                             description=f"Default: best match when searching (the {RANKED_MATCHES} newest matches, best "
                                         "first, then the older ones newest first), else newest."),
            OpenApiParameter("after", str, description="Cursor: the page after this one (from `next`)."),
            OpenApiParameter("before", str, description="Cursor: the page before this one (from `previous`)."),
        ],
        responses={200: IncidentPageSerializer, **problem_responses(400, 401, 403, 429)},
    )
    def get(self, request: Request) -> Response:
        unknown = sorted(set(request.query_params) - LIST_PARAMETERS)
        if unknown:
            raise ValidationError({name: ["Unknown query parameter."] for name in unknown})
        form = IncidentFilterForm(request.query_params)
        if request.query_params and not form.is_valid():
            raise ValidationError({name: list(messages) for name, messages in form.errors.items()})
        filters = form.valid_filters()
        incidents = Incident.objects.visible_to(self.user).for_list().matching(filters, user=self.user)
        after, before = request.query_params.get("after", ""), request.query_params.get("before", "")
        try:
            if "q" in filters:
                page = search_page(incidents, order=list_order(filters), size=PAGE_SIZE, after=after, before=before)
            else:
                page = keyset_page(incidents.in_list_order(list_order(filters)), size=PAGE_SIZE, after=after,
                                   before=before)
        except InvalidCursor as error:
            raise ValidationError({"after" if request.query_params.get("after") else "before": [
                "This cursor was not made by this list and sort; start again from the first page."]}) from error
        return Response({
            "results": IncidentSerializer(page.rows, many=True).data,
            "next": page_link(request, "after", page.next_cursor),
            "previous": page_link(request, "before", page.previous_cursor),
        })

    @extend_schema(summary="Report an incident", request=IncidentCreateSerializer,
                   responses={201: IncidentSerializer, **problem_responses(400, 401, 403, 429)})
    def post(self, request: Request) -> Response:
        values = self.validated(IncidentCreateSerializer)
        try:
            incident_report_count(self.user)
        except ReportLimitReached as refusal:
            raise Throttled(wait=refusal.retry_after, detail=str(refusal)) from None
        incident, _ = incident_create(reporter=self.user, **values)
        return self.incident_answer(incident.pk, status=status.HTTP_201_CREATED,
                                    Location=request.build_absolute_uri(f"{request.path}{incident.pk}/"))


class IncidentDetailView(ApiView):
    @extend_schema(summary="One incident", description="The ETag header carries the version, for If-Match.",
                   responses={200: IncidentSerializer, **problem_responses(401, 403, 404, 429)})
    def get(self, request: Request, pk: int) -> Response:
        return self.incident_answer(pk)

    @extend_schema(
        summary="Change an incident",
        description="Send `If-Match` with the incident's ETag: if someone changed it since, the answer is 412 "
                    "and nothing changes. Reporters may edit their own incidents while Open; the assignee is "
                    "for responders.",
        parameters=[OpenApiParameter("If-Match", str, OpenApiParameter.HEADER, required=True,
                                     description='The ETag of the version being changed, e.g. "v3".')],
        request=IncidentUpdateSerializer,
        responses={200: IncidentSerializer, **problem_responses(400, 401, 403, 404, 412, 428, 429)},
    )
    def patch(self, request: Request, pk: int) -> Response:
        incident = self.visible_incident(pk)
        values = self.validated(IncidentUpdateSerializer)
        try:
            incident_update(incident, actor=self.user, expected_version=expected_version(request), **values)
        except StaleIncidentError as stale:
            raise PreconditionFailed() from stale
        return self.incident_answer(pk)


class TransitionView(ApiView):
    @extend_schema(
        summary="Move an incident through the workflow",
        description="Responders only. An illegal move answers 409 with `allowed`, the statuses the incident "
                    "can move to now. `If-Match` is optional here; with it a stale version answers 412.",
        parameters=[OpenApiParameter("If-Match", str, OpenApiParameter.HEADER)],
        request=TransitionSerializer,
        responses={200: IncidentSerializer, **problem_responses(400, 401, 403, 404, 409, 412, 429)},
    )
    def post(self, request: Request, pk: int) -> Response:
        incident = self.visible_incident(pk)
        target = self.validated(TransitionSerializer)["to"]
        if not permissions.can_transition(self.user, incident):
            raise PermissionDenied("Only responders may change an incident's status.")
        version = expected_version(request) if request.headers.get("If-Match") else None
        transition = next((move for move in transitions_from(incident.status) if move.target == target), None)
        if transition is None:
            raise self.conflict(incident, target)
        try:
            incident_transition(incident, actor=self.user, name=transition.name, expected_version=version)
        except StaleIncidentError as stale:
            raise PreconditionFailed() from stale
        except DjangoValidationError as error:
            # Someone else moved it between our read and the service's locked one.
            raise self.conflict(self.visible_incident(pk), target) from error
        return self.incident_answer(pk)

    @staticmethod
    def conflict(incident: Incident, target: str) -> Conflict:
        allowed = [move.target for move in transitions_from(incident.status)]
        return Conflict(f"An incident that is {incident.get_status_display()} cannot move to “{target}”.",
                        allowed=allowed)


class AcknowledgeView(ApiView):
    @extend_schema(
        summary="Acknowledge an incident",
        description="Responders only. Records when and by whom (the first acknowledgement counts) and stops the "
                    "paging. Acknowledging an incident already acknowledged changes nothing and answers 200.",
        request=None,
        responses={200: IncidentSerializer, **problem_responses(401, 403, 404, 429)},
    )
    def post(self, request: Request, pk: int) -> Response:
        incident = self.visible_incident(pk)
        if not permissions.can_triage(self.user):
            raise PermissionDenied("Only responders may acknowledge incidents.")
        incident_acknowledge(incident, actor=self.user)
        return self.incident_answer(pk)


class CommentListView(ApiView):
    def comments(self, incident: Incident) -> QuerySet[Comment]:
        return Comment.objects.visible_to(self.user).filter(incident=incident).select_related("author")

    @extend_schema(summary="An incident's comments",
                   description=f"Internal notes are listed to responders only. At most {SUBLIST_PAGE}, oldest first.",
                   parameters=[AFTER],
                   responses={200: CommentSerializer(many=True), **problem_responses(400, 401, 403, 404, 429)})
    def get(self, request: Request, pk: int) -> Response:
        comments, headers = self.bounded(self.comments(self.visible_incident(pk)), key="pk")
        return Response(CommentSerializer(comments, many=True).data, headers=headers)

    @extend_schema(summary="Comment on an incident", request=CommentCreateSerializer,
                   responses={201: CommentSerializer, **problem_responses(400, 401, 403, 404, 429)})
    def post(self, request: Request, pk: int) -> Response:
        incident = self.visible_incident(pk)
        comment = comment_add(incident, author=self.user, **self.validated(CommentCreateSerializer))
        return Response(CommentSerializer(comment).data, status=status.HTTP_201_CREATED)


class TimelineView(ApiView):
    @extend_schema(summary="An incident's history",
                   description=f"From the audit log, filtered as on the page. At most {SUBLIST_PAGE}, oldest first.",
                   parameters=[AFTER],
                   responses={200: TimelineEntrySerializer(many=True), **problem_responses(400, 401, 403, 404, 429)})
    def get(self, request: Request, pk: int) -> Response:
        incident = self.visible_incident(pk)
        entries = AuditLog.objects.for_target(incident._meta.label_lower, incident.pk).visible_to(self.user) \
            .select_related("actor").only("sequence", "created_at", "actor_id", "action", "changes", "via",
                                          *name_fields("actor"))
        page, headers = self.bounded(entries, key="sequence")
        return Response(TimelineEntrySerializer(page, many=True).data, headers=headers)


class CategoryListView(ApiView):
    @extend_schema(summary="Categories", responses={200: CategorySerializer(many=True), **problem_responses(401, 403, 429)})
    def get(self, request: Request) -> Response:
        return Response(CategorySerializer(Category.objects.all(), many=True).data)


class OnCallView(ApiView):
    @extend_schema(summary="Who is on call now, and next",
                   description="Responders only. One entry per schedule: the shift covering now and the next one.",
                   responses={200: OnCallSerializer(many=True), **problem_responses(401, 403, 429)})
    def get(self, request: Request) -> Response:
        if not permissions.can_triage(self.user):
            raise PermissionDenied("On-call schedules are for responders.")
        duties = [{"schedule": schedule, "now": current, "next": upcoming}
                  for schedule, current, upcoming in on_call_now(Schedule.objects.all(), at=timezone.now())]
        return Response(OnCallSerializer(duties, many=True).data)


class MeView(ApiView):
    @extend_schema(summary="Who is calling", description="The account, and the token when one is used.",
                   responses={200: MeSerializer, **problem_responses(401, 403, 429)})
    def get(self, request: Request) -> Response:
        token = request.auth if isinstance(request.auth, ApiToken) else None
        return Response(MeSerializer(self.user, context={"token": token}).data)
