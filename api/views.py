"""The API's viewsets: each one coordinates; the rules are the models', the
writes the services', the scope ``accounts.scoping``'s.

Common behaviour (documented in the OpenAPI schema by ``api.schema``):

- list: filters as query parameters (invalid values are a 400), ``ordering``,
  ``page`` / ``page_size`` (50 by default, at most 200); a constant number of
  queries whatever the page size.
- retrieve: the record with an ``ETag: "<version>"`` header.
- create: 201 with the record; the rules' errors are a 400.
- update (PUT, PATCH): needs the version the client started from (``version``
  in the body or ``If-Match``; none: 428; stale: 409 / 412, nothing written)
  and a reason for change (``change_reason`` or ``X-Change-Reason``).
- no DELETE anywhere (405): entries made in error are voided with a reason.
"""

import re
from collections.abc import Mapping
from contextlib import contextmanager

from django.core.exceptions import ImproperlyConfigured
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Prefetch
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import (
    AuthenticationFailed, ErrorDetail, NotFound, PermissionDenied, ValidationError)
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from accounts.scoping import may_all, scope_to_user_sites
from core.forms import AsciiIntegerField
from core.services import StaleRecordError, record_void
from oversight import targets
from oversight.filters import DataQueryFilterSet
from patients.filters import DiagnosisFilterSet, MalignancyFilterSet, PatientFilterSet
from patients.models import Diagnosis, MalignancyHistory, Patient
from patients.services import patient_facts_refresh, patient_withdraw
from review import services as review_services
from review.models import DataQuery, DataQueryMessage
from medications.filters import MedicationFilterSet
from medications.models import ConcomitantMedication
from medications.services import medication_void
from safety.filters import AdverseEventFilterSet
from safety.models import AdverseEvent
from visits import services as visit_services
from visits.filters import (AssessmentFilterSet, CycleFilterSet, DeviationFilterSet, InfusionFilterSet,
                            MissedCycleFilterSet)
from visits.models import Assessment, Infusion, MissedCycle, ProtocolDeviation, TreatmentCycle

from . import serializers as s
from .exceptions import Conflict, PreconditionFailed, PreconditionRequired
from .permissions import RolePermissions, model_permission


# --- Pagination, filters, ordering ---------------------------------------------

#: Ids, pages and page sizes: ASCII digits, at most 18 of them.
_MAX_NUMBER = 10**18 - 1


def _number(raw, *, min_value):
    """A query parameter as a whole number (form field parsing: ASCII digits only),
    or None when it is not one."""
    try:
        return AsciiIntegerField(required=True, min_value=min_value, max_value=_MAX_NUMBER).clean(raw)
    except DjangoValidationError:
        return None


class Pagination(PageNumberPagination):
    """50 rows a page; ``?page_size=`` up to 200 (more is capped, not refused);
    a page size that is not a positive integer is a 400, a page beyond the
    last a 404."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def paginate_queryset(self, queryset, request, view=None):
        raw = request.query_params.get(self.page_query_param)
        if raw is not None and _number(raw, min_value=0) is None:  # DRF would read ?page= as page 1
            raise NotFound("Invalid page.")
        return super().paginate_queryset(queryset, request, view)

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is not None and _number(raw, min_value=1) is None:
            raise ValidationError({self.page_size_query_param: [ErrorDetail(
                "Give a whole number of rows a page, at least 1.", code="invalid")]})
        return super().get_page_size(request)

    def get_schema_operation_parameters(self, view):
        params = super().get_schema_operation_parameters(view)
        for param in params:
            param["schema"].update({"minimum": 1})
            if param["name"] == self.page_size_query_param:
                param["schema"]["maximum"] = 10**18 - 1
        return params


# --- Versions, reasons, ETags ----------------------------------------------------

_ETAG = re.compile(r'\s*(?:W/)?"(\d{1,10})"\s*|\s*(\d{1,10})\s*', re.ASCII)
_VERSION_FIELD = s.StrictIntegerField(min_value=1, max_value=s.MAX_VERSION)


def etag(instance):
    return {"ETag": f'"{instance.version}"'}


def header_text(request, name):
    """A header's text; UTF-8 sent raw arrives as latin-1 and is decoded back."""
    value = request.headers.get(name, "")
    try:
        value = value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        pass
    return value.strip()


def precondition(request, instance):
    """The version the client started from, and where it said so (``header``
    for If-Match, ``body`` for ``version``). Raises 428 without one, 412 / 409
    when it is not the stored version, 400 when both are given and differ."""
    body = None
    data = request.data
    if isinstance(data, Mapping) and data.get("version") is not None:
        try:
            body = _VERSION_FIELD.run_validation(data["version"])
        except ValidationError as exc:
            raise ValidationError({"version": exc.detail}) from exc
    header, via = request.headers.get("If-Match", "").strip(), "body"
    expected = body
    if header and header != "*":  # an empty If-Match is no If-Match; * names no version
        match = _ETAG.fullmatch(header)
        if match is None:
            raise PreconditionFailed(f"If-Match {header[:40]!r} names no version of this record "
                                     f'(its ETag is "{instance.version}"). Nothing was changed.')
        expected, via = int(match.group(1) or match.group(2)), "header"
        if body is not None and body != expected:
            raise ValidationError({"version": [ErrorDetail(
                "The version in the body and the If-Match header differ.", code="version_mismatch")]})
    if expected is None:
        raise PreconditionRequired()
    if expected != instance.version:
        raise stale_error(via, instance.version)
    return expected, via


def stale_error(via, stored):
    cls = PreconditionFailed if via == "header" else Conflict
    return cls(f"Someone else saved this record after you read it (it is now at version {stored}). "
               "Nothing was overwritten: fetch it again, then apply your change.")


@contextmanager
def stale_as(via):
    """A lost-update race caught inside ``record_save`` is the same 409 / 412."""
    try:
        yield
    except StaleRecordError as exc:
        raise stale_error(via, exc.stored_version) from exc


# --- Base viewsets -------------------------------------------------------------------

class ApiViewSet(viewsets.GenericViewSet):
    """Scoped queryset, permissions per action, filters, ordering, pages."""

    permission_classes = [RolePermissions]
    # filter_backends: settings.REST_FRAMEWORK["DEFAULT_FILTER_BACKENDS"] (api.filters)
    pagination_class = Pagination
    # No DELETE (nothing clinical is deleted) and no OPTIONS (the schema is the
    # description): both are 405, and the Allow header lists what is routed.
    http_method_names = ["get", "post", "put", "patch", "head"]

    site_field = "site"
    filterset_class = None
    action_permissions = {"list": ("view",), "retrieve": ("view",)}

    def base_queryset(self):
        raise NotImplementedError

    def get_queryset(self):
        return scope_to_user_sites(self.base_queryset(), self.request.user, site_field=self.site_field)

    def required_permissions(self):
        if self.action is None or self.request.method.lower() not in self.http_method_names:
            return None  # a method this viewset does not route: 405
        try:
            actions = self.action_permissions[self.action]
        except KeyError:
            raise ImproperlyConfigured(f"{type(self).__name__}: no permission for {self.action!r}") from None
        model = self.base_queryset().model
        return [model_permission(model, a) for a in actions]


class RecordViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                    mixins.UpdateModelMixin, ApiViewSet):
    """A clinical record: versions, reasons, ETags (see the module docstring)."""

    action_permissions = {"list": ("view",), "retrieve": ("view",), "create": ("add",),
                          "update": ("change",), "partial_update": ("change",), "void": ("change",),
                          "withdraw": ("change",)}

    def get_serializer_context(self):
        context = super().get_serializer_context()
        context["header_reason"] = header_text(self.request, "X-Change-Reason") if self.request else ""
        return context

    def record_response(self, instance, status=200):
        """The record as now stored, read back through the list's queryset
        (its annotations and prefetches), with its ETag."""
        instance = self.get_queryset().get(pk=instance.pk)
        return Response(self.get_serializer(instance).data, status=status, headers=etag(instance))

    def refusal(self, instance):
        """Why this record may not be changed through an update (as the pages say)."""
        if getattr(instance, "voided_at", None) is not None:
            return ErrorDetail("A voided entry cannot be edited.", code="voided")
        return None

    def retrieve(self, request, *args, **kwargs):
        instance = self.get_object()
        return Response(self.get_serializer(instance).data, headers=etag(instance))

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        self.check_create(serializer)
        instance = serializer.save(user=request.user, expected_version=None)
        return self.record_response(instance, status=201)

    def check_create(self, serializer):
        """Further permission checks once the input is known (nested parts)."""

    def update(self, request, *args, **kwargs):
        partial = kwargs.pop("partial", False)
        instance = self.get_object()
        expected, via = precondition(request, instance)
        refusal = self.refusal(instance)
        if refusal:
            raise ValidationError({"non_field_errors": [refusal]})
        serializer = self.get_serializer(instance, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        with stale_as(via):
            instance = serializer.save(user=request.user, expected_version=expected)
        return self.record_response(instance)


class VoidMixin:
    """``POST .../{id}/void/``: the entry stays, marked void with the reason."""

    @extend_schema(request=s.VoidSerializer, summary="Void an entry made in error (never deleted)")
    @action(detail=True, methods=["post"])
    def void(self, request, pk=None):
        instance = self.get_object()
        expected, via = precondition(request, instance)
        body = s.VoidSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        instance._history_user = request.user
        with stale_as(via):
            self.perform_void(instance, reason=body.validated_data.get("void_reason", ""),
                              expected_version=expected, user=request.user)
            self.after_void(instance, request.user)
        return self.record_response(instance)

    def perform_void(self, instance, *, reason, expected_version, user):
        """The void itself: ``record_void`` unless the app has a void service."""
        record_void(instance=instance, reason=reason, expected_version=expected_version, user=user)

    def after_void(self, instance, user):
        """What a void changes beyond the entry (none by default)."""


# --- Patients ------------------------------------------------------------------------

@extend_schema_view(
    list=extend_schema(summary="Patients of your sites"),
    create=extend_schema(summary="Enrol a patient (eligibility rules apply)"),
    update=extend_schema(summary="Correct a patient (version and reason for change required)"),
    partial_update=extend_schema(summary="Correct some fields of a patient"),
)
class PatientViewSet(RecordViewSet):
    """Patients of your sites (study-wide roles: all sites)."""

    serializer_class = s.PatientSerializer
    filterset_class = PatientFilterSet
    ordering_fields = ["subject_id", "enrolment_date", "created_at", "updated_at", "status"]
    ordering = ["subject_id"]

    def base_queryset(self):
        return Patient.objects.select_related("site")

    @extend_schema(request=s.WithdrawSerializer, summary="Withdraw a patient (date and reason)")
    @action(detail=True, methods=["post"])
    def withdraw(self, request, pk=None):
        patient = self.get_object()
        expected, via = precondition(request, patient)
        body = s.WithdrawSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        patient._history_user = request.user
        with stale_as(via):
            patient_withdraw(patient=patient, on=body.validated_data["withdrawal_date"],
                             reason=body.validated_data["withdrawal_reason"], expected_version=expected,
                             user=request.user)
        return self.record_response(patient)


class DiagnosisViewSet(RecordViewSet):
    """The PM / DM diagnosis of a patient, with its derived certainty and EULAR/ACR class."""

    serializer_class = s.DiagnosisSerializer
    site_field = "patient__site"
    filterset_class = DiagnosisFilterSet
    ordering_fields = ["diagnosis_date", "created_at", "updated_at"]
    ordering = ["patient__subject_id"]

    def base_queryset(self):
        return Diagnosis.objects.select_related("patient")


class MalignancyViewSet(VoidMixin, RecordViewSet):
    """Malignancy history; an entry made in error is voided (`POST .../void/`)."""

    serializer_class = s.MalignancySerializer
    site_field = "patient__site"
    filterset_class = MalignancyFilterSet
    ordering_fields = ["diagnosis_date", "created_at", "updated_at"]
    ordering = ["diagnosis_date"]

    def base_queryset(self):
        return MalignancyHistory.objects.select_related("patient")  # (timing: a stored column)


# --- Visits ------------------------------------------------------------------------------

@extend_schema_view(
    create=extend_schema(summary="Record a cycle, optionally with its assessment and infusions "
                                 "(one transaction; deviations computed)"),
)
class CycleViewSet(RecordViewSet):
    """Treatment cycles (monthly visits). Every write recomputes the protocol deviations."""

    serializer_class = s.CycleSerializer
    site_field = "patient__site"
    filterset_class = CycleFilterSet
    ordering_fields = ["start_date", "number", "created_at", "updated_at"]
    ordering = ["patient__subject_id", "number"]

    def base_queryset(self):
        return (TreatmentCycle.objects.select_related("patient", "assessment")
                .prefetch_related(
                    Prefetch("infusions", queryset=Infusion.objects.order_by("day")),
                    Prefetch("deviations", queryset=ProtocolDeviation.objects.open().order_by("day", "kind"),
                             to_attr="open_deviation_list")))

    def check_create(self, serializer):
        needed = [f"visits.add_{name}" for name, key in (("assessment", "assessment"), ("infusion", "infusions"))
                  if serializer.validated_data.get(key)]
        if not may_all(self.request.user, needed):
            raise PermissionDenied()


class AssessmentViewSet(VoidMixin, RecordViewSet):
    """Pre-treatment and end-of-treatment assessments (MMT-8, CK and other enzymes)."""

    serializer_class = s.AssessmentSerializer
    site_field = "patient__site"
    filterset_class = AssessmentFilterSet
    ordering_fields = ["assessment_date", "created_at", "updated_at"]
    ordering = ["patient__subject_id", "assessment_date"]

    def after_void(self, instance, user):
        # a voided end-of-treatment visit no longer ends the treatment (malignancy timing)
        patient_facts_refresh(instance.patient_id, reason=f"Voided: {instance.void_reason}", user=user)

    def base_queryset(self):
        return Assessment.objects.select_related("patient", "cycle")


class InfusionViewSet(RecordViewSet):
    """IVIG infusion days. Every write recomputes the cycle's protocol deviations."""

    serializer_class = s.InfusionSerializer
    site_field = "cycle__patient__site"
    filterset_class = InfusionFilterSet
    ordering_fields = ["infusion_date", "created_at", "updated_at"]
    ordering = ["cycle__patient__subject_id", "cycle__number", "day"]

    def base_queryset(self):
        return Infusion.objects.select_related("cycle__patient")


@extend_schema_view(list=extend_schema(summary="Protocol deviations (read only: the rules write them)"))
class DeviationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    """Protocol deviations: read only, written by the rules when a cycle or an infusion is saved."""

    serializer_class = s.DeviationSerializer
    site_field = "patient__site"
    filterset_class = DeviationFilterSet
    ordering_fields = ["detected_at", "resolved_at", "created_at", "updated_at"]
    ordering = ["-detected_at"]

    def base_queryset(self):
        return ProtocolDeviation.objects.current().select_related("cycle")

    def retrieve(self, request, *args, **kwargs):
        instance = self.get_object()
        return Response(self.get_serializer(instance).data, headers=etag(instance))


class MissedCycleViewSet(VoidMixin, RecordViewSet):
    """Missed cycles (a month without infusion, with the reason); the patient's next cycle
    is planned from the missed cycle's planned date. Voided (`POST .../void/`), never deleted."""

    serializer_class = s.MissedCycleSerializer
    site_field = "patient__site"
    filterset_class = MissedCycleFilterSet
    ordering_fields = ["planned_date", "created_at", "updated_at"]
    ordering = ["patient__subject_id", "planned_date"]

    def base_queryset(self):
        return MissedCycle.objects.select_related("patient")

    def perform_void(self, instance, *, reason, expected_version, user):
        visit_services.missed_cycle_void(missed=instance, reason=reason, expected_version=expected_version,
                                         user=user)


# --- Safety ----------------------------------------------------------------------------------

class AdverseEventViewSet(VoidMixin, RecordViewSet):
    """Adverse events; an entry made in error is voided (`POST .../void/`)."""

    serializer_class = s.AdverseEventSerializer
    site_field = "patient__site"
    filterset_class = AdverseEventFilterSet
    ordering_fields = ["onset_date", "grade", "created_at", "updated_at"]
    ordering = ["-onset_date"]

    def base_queryset(self):
        return AdverseEvent.objects.select_related("patient")


# --- Concomitant medications ----------------------------------------------------------------

class MedicationViewSet(VoidMixin, RecordViewSet):
    """Concomitant medications; an entry made in error is voided (`POST .../void/`)."""

    serializer_class = s.MedicationSerializer
    site_field = "patient__site"
    filterset_class = MedicationFilterSet
    ordering_fields = ["start_date", "created_at", "updated_at"]
    ordering = ["patient__subject_id", "start_date"]

    def base_queryset(self):
        return ConcomitantMedication.objects.select_related("patient")

    def perform_void(self, instance, *, reason, expected_version, user):
        medication_void(medication=instance, reason=reason, expected_version=expected_version, user=user)


# --- Data queries ---------------------------------------------------------------------------

REPLY_RESPONSES = {200: s.DataQuerySerializer}


@extend_schema_view(
    create=extend_schema(request=s.DataQueryRaiseSerializer, responses={201: s.DataQuerySerializer},
                         summary="Raise a data query on a record (monitors)"),
)
class DataQueryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, ApiViewSet):
    """Data queries: raised by monitors, answered by the sites, closed or
    re-opened by monitors (`oversight.services`). A query is a thread, not a
    record one edits: no PUT or PATCH."""

    serializer_class = s.DataQuerySerializer
    site_field = "patient__site"
    filterset_class = DataQueryFilterSet
    ordering_fields = ["updated_at", "raised_at"]
    ordering = ["-updated_at"]
    action_permissions = {"list": ("view",), "retrieve": ("view",), "create": ("review.raise_query",),
                          "answer": ("review.answer_query",), "close": ("review.raise_query",),
                          "reopen": ("review.raise_query",)}
    versioned = etag_records = False  # read by api.schema

    def base_queryset(self):
        return (DataQuery.objects.select_related("content_type", "raised_by")
                .prefetch_related(Prefetch("messages", queryset=DataQueryMessage.objects
                                           .select_related("author").order_by("at", "pk"))))

    def record_response(self, query, status=200):
        query = self.get_queryset().get(pk=query.pk)
        return Response(s.DataQuerySerializer(query, context=self.get_serializer_context()).data, status=status)

    def create(self, request, *args, **kwargs):
        body = s.DataQueryRaiseSerializer(data=request.data, context=self.get_serializer_context())
        body.is_valid(raise_exception=True)
        patient = body.validated_data["patient"]
        resolved = targets.resolve(patient, body.validated_data["target"])
        if resolved is None:
            raise ValidationError({"target": [ErrorDetail("Choose a record of this patient.", code="invalid_target")]})
        record, field_name, field_label, record_label, cycle_number = resolved
        query = review_services.query_raise(
            record=record, field_name=field_name, field_label=field_label, record_label=record_label,
            question=body.validated_data["question"], user=request.user, cycle_number=cycle_number)
        return self.record_response(query, status=201)

    def _reply(self, request, service):
        query = self.get_object()
        body = s.DataQueryReplySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        service(query=query, user=request.user, text=body.validated_data.get("text", ""))
        return self.record_response(query)

    @extend_schema(request=s.DataQueryReplySerializer, responses=REPLY_RESPONSES, summary="Answer (sites)")
    @action(detail=True, methods=["post"])
    def answer(self, request, pk=None):
        return self._reply(request, review_services.query_answer)

    @extend_schema(request=s.DataQueryReplySerializer, responses=REPLY_RESPONSES, summary="Close (monitors)")
    @action(detail=True, methods=["post"])
    def close(self, request, pk=None):
        return self._reply(request, review_services.query_close)

    @extend_schema(request=s.DataQueryReplySerializer, responses=REPLY_RESPONSES, summary="Re-open (monitors)")
    @action(detail=True, methods=["post"])
    def reopen(self, request, pk=None):
        return self._reply(request, review_services.query_reopen)


@csrf_exempt  # it changes nothing, whatever the method
def not_found(request, *args, **kwargs):
    """Any other path under ``/api/v1/``: a 404 in the API's error shape, not
    the site's HTML page (e.g. ``/api/v1/patients/1.5/``). Without credentials
    it is a 401 like every real endpoint, so an anonymous client cannot tell
    which paths exist."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        from .authentication import TokenAuthentication

        try:
            authenticated = TokenAuthentication().authenticate(request)
        except AuthenticationFailed:
            authenticated = None
        if authenticated is None:
            return JsonResponse(
                {"detail": "Authentication credentials were not provided.",
                 "code": "not_authenticated", "errors": {}},
                status=401, headers={"WWW-Authenticate": 'Token realm="api"'})
    return JsonResponse({"detail": "Not found.", "code": "not_found", "errors": {}}, status=404)


# --- Root --------------------------------------------------------------------------------------

ENDPOINTS = ("patients", "diagnoses", "malignancies", "cycles", "assessments", "infusions",
             "adverse-events", "deviations", "data-queries")


class ApiRootView(APIView):
    """``/api/v1/``: links to the collections, the schema and the docs."""

    permission_classes = [IsAuthenticated]
    schema = None  # not an operation of the API itself

    def get(self, request):
        links = {name: reverse(f"api:api-{name}-list", request=request) for name in ENDPOINTS}
        links["schema"] = reverse("api:schema", request=request)
        links["docs"] = reverse("api:docs", request=request)
        return Response(links)

