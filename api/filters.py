"""The API's list filters and ordering (``settings.REST_FRAMEWORK["DEFAULT_FILTER_BACKENDS"]``)."""

from django_filters import CharFilter
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.exceptions import ErrorDetail, ValidationError
from rest_framework.filters import OrderingFilter

from core.filters import SiteFilter


class FilterBackend(DjangoFilterBackend):
    """The viewset's ``filterset_class`` (one per list concept, shared with the
    pages: ``<app>/filters.py``), on lists only. An invalid value is a 400 with
    the field's error (code ``invalid``); so is an empty one (``?site=``), but an
    empty text filter (``?search=``) filters nothing. ``?site=`` is a site code
    (``01``), never an id; a code outside the user's sites is the same error as
    an unknown one. drf-spectacular documents the parameters from the filters."""

    def get_filterset(self, request, queryset, view):
        filterset = super().get_filterset(request, queryset, view)
        if filterset is not None:
            for filter_ in filterset.filters.values():  # this filterset's own copies
                if isinstance(filter_, SiteFilter):
                    filter_.by_code()  # ``?site=01``: the code, as in subject ids, reports, exports
            filterset.__dict__.pop("_form", None)  # a form built in __init__ is rebuilt with them
        return filterset

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
