from django.db import models
from django.utils.translation import gettext_lazy as _

#: The source label of the shipped CTCAE terms (``coding/data/ctcae_v5_terms.csv``).
CTCAE_V5 = "CTCAE v5.0"


class MeddraTermQuerySet(models.QuerySet):
    def current(self):
        return self.filter(current=True)

    def ctcae(self):
        """The CTCAE v5.0 terms the adverse-event form offers, by name."""
        return self.current().filter(source=CTCAE_V5).order_by("llt_name")


class MeddraTerm(models.Model):
    """One lowest-level term of a dictionary, with its preferred term and the PT's
    primary system organ class: a row of the CTCAE v5.0 list (each CTCAE term is a
    MedDRA LLT) or of a loaded MedDRA release. Reference data, not a clinical record:
    a coded adverse event copies the facts it was coded with (``safety``), so a later
    load changes no coded event."""

    source = models.CharField(_("source"), max_length=40,
                              help_text=_('The dictionary and its version, e.g. "CTCAE v5.0" or "MedDRA 27.1".'))
    llt_code = models.CharField(_("LLT code"), max_length=8)
    llt_name = models.CharField(_("lowest level term"), max_length=200)
    pt_code = models.CharField(_("PT code"), max_length=8, blank=True)
    pt_name = models.CharField(_("preferred term"), max_length=200, blank=True)
    soc_code = models.CharField(_("SOC code"), max_length=8)
    soc_name = models.CharField(_("system organ class"), max_length=200)
    soc_abbrev = models.CharField(_("SOC abbreviation"), max_length=10, blank=True)
    current = models.BooleanField(_("current"), default=True,
                                  help_text=_("Not current: kept for the events coded with it, offered no more."))

    objects = MeddraTermQuerySet.as_manager()

    class Meta:
        verbose_name = _("dictionary term")
        verbose_name_plural = _("dictionary terms")
        ordering = ["source", "llt_name"]
        constraints = [
            models.UniqueConstraint(fields=["source", "llt_code"], name="coding_term_one_llt_per_source"),
            models.CheckConstraint(condition=models.Q(llt_code__regex=r"^[0-9]{8}$")
                                   & models.Q(soc_code__regex=r"^[0-9]{8}$"),
                                   name="coding_term_codes_8_digits"),
        ]
        indexes = [models.Index(fields=["llt_code"])]

    def __str__(self):
        return f"{self.llt_name} ({self.llt_code})"

    @property
    def label(self):
        """As the pickers show it: the term, its code and its SOC (dictionary words: English)."""
        return f"{self.llt_name} · {self.llt_code} · {self.soc_name}"
