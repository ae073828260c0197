"""The API's list filters and ordering (``settings.REST_FRAMEWORK["DEFAULT_FILTER_BACKENDS"]``)."""

from django_filters import CharFilter
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.exceptions import ErrorDetail, ValidationError
from rest_framework.filters import OrderingFilter


class FilterBackend(DjangoFilterBackend):
    """The viewset's ``filterset_class`` (one per list concept, shared with the
    pages: ``<app>/filters.py``), on lists only. An invalid value is a 400 with
    the field's error (code ``invalid``); so is an empty one (``?site=``), but an
    empty text filter (``?search=``) filters nothing. drf-spectacular documents
    the parameters from the filters."""

    def filter_queryset(self, request, queryset, view):
        if getattr(view, "action", None) != "list":
            return queryset
        filterset = self.get_filterset(request, queryset, view)
        if filterset is None:
            return queryset
        errors = {}
        for name, filter_ in filterset.filters.items():
            if request.query_params.get(name) == "" and not isinstance(filter_, CharFilter):
                errors[name] = [ErrorDetail("Give a value, or leave the parameter out.", code="invalid")]
        for name, messages in filterset.errors.items():
            errors.setdefault(name, [ErrorDetail(str(message), code="invalid") for message in messages])
        if errors:
            raise ValidationError(errors)
        return filterset.qs


class StableOrderingFilter(OrderingFilter):
    """``?ordering=field,-other``; the primary key breaks ties, so pages never
    overlap or skip rows."""

    def get_ordering(self, request, queryset, view):
        ordering = list(super().get_ordering(request, queryset, view) or [])
        if not any(term.lstrip("-") in ("pk", "id") for term in ordering):
            ordering.append("pk")
        return ordering
