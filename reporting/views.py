from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.generic import TemplateView

from accounts.mixins import PermissionRequiredMixin
from accounts.models import Site
from accounts.scoping import scope_to_user_sites

from exchange import datasets

from . import plots, rules, selectors
from .forms import ReportFilterForm


#: Above this many patients the page lists the first DETAIL_LIMIT patients and plots at most this
#: many lines or bars (evenly spread over the cohort): every figure and test still covers the whole
#: cohort, the exports list every patient. A 10,000-patient table and 10,000-line SVG would make a
#: page of megabytes that takes seconds to render and that no browser shows usefully.
DETAIL_LIMIT = selectors.DETAIL_LIMIT
_spread = selectors.spread


def _waterfall_values(pairs):
    """(label, value) for a waterfall; above DETAIL_LIMIT, evenly spread quantiles without labels."""
    pairs = sorted(((label, v) for label, v in pairs if v is not None), key=lambda item: item[1])
    if len(pairs) <= DETAIL_LIMIT:
        return pairs
    return [("", v) for _, v in _spread(pairs)]


class ReportView(PermissionRequiredMixin, TemplateView):
    """The outcome report: baseline, exposure, outcomes with exact statistics,
    safety and plots, for the cohort the filters select."""

    permission_required = "reporting.view_report"
    raise_exception = True
    template_name = "reporting/report.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        sites = scope_to_user_sites(Site.objects.all(), self.request.user, site_field="pk")
        form = ReportFilterForm(self.request.GET or None, sites=sites)
        filters = form.cleaned_data if form.is_valid() else {}
        patients = datasets.cohort(user=self.request.user, site=filters.get("site"),
                                   diagnosis=filters.get("diagnosis") or None)
        # The CK series of the plotted patients only (at most DETAIL_LIMIT, evenly spread).
        report = selectors.outcome_report(patients, series_limit=DETAIL_LIMIT)
        series = report.ck_series
        site, diagnosis = filters.get("site"), filters.get("diagnosis")
        context.update(
            form=form, report=report, print_view=self.request.GET.get("print") == "1",
            # What the print-out states: its filters, when it was generated, and the data cut.
            filter_site=(f"{site.code} ({site.name})" if site
                         else _("all (%(codes)s)") % {"codes": ", ".join(s.code for s in sites) or _("none")}),
            filter_diagnosis=diagnosis or _("all (PM and DM)"),
            generated_at=timezone.now(),
            query_string=self.request.GET.urlencode(),
            patients_shown=report.patients[:DETAIL_LIMIT], detail_limit=DETAIL_LIMIT,
            sampled=report.n > DETAIL_LIMIT, ck_plot_lines=len(series),
            ck_plot=plots.ck_over_time(series),
            waterfall=plots.bars(_waterfall_values((o.subject_id, o.ck_change_pct) for o in report.patients),
                                 reference=-int(rules.CK_RESPONSE_FALL * 100), floor=-100),
            mmt_plot=plots.bars(_waterfall_values((o.subject_id, o.mmt_change_pct) for o in report.patients),
                                reference=int(rules.MMT_IMPROVEMENT * 100)),
        )
        return context
