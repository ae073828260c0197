"""The filters of the data-query lists: the query list page and ``/api/v1/data-queries/``
(see ``core.filters``)."""

from core.filters import ChoiceFilter, FilterSet, IdFilter, SiteFilter
from review.models import DataQuery, QueryStatus


class DataQueryFilterSet(FilterSet):
    """``?status=&site=&patient=``. The page shows the open queries when ``status`` is
    absent (``?status=`` is all of them); the API lists all of them."""

    status = ChoiceFilter(choices=QueryStatus.choices, empty_label="Any status")
    site = SiteFilter(field_name="patient__site")
    patient = IdFilter(field_name="patient_id", help_text="Patient id.")

    class Meta:
        model = DataQuery
        fields = []
