from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from core.validation import CleanTextModel

from .countries import ALPHA3
from .roles import SITE_ROLES, STUDY_WIDE_ROLES, Role

import zoneinfo


def validate_time_zone(value):
    if value not in zoneinfo.available_timezones():
        raise ValidationError(_("Unknown time zone: %(value)s."), code="invalid_time_zone",
                              params={"value": value})


def validate_country(value):
    if value not in ALPHA3:
        raise ValidationError(_("%(value)s is not an ISO 3166-1 alpha-3 country code (e.g. FRA, DEU, GBR)."),
                              code="invalid_country", params={"value": value})


def default_country():
    """A new site's country: ``settings.STUDY_DEFAULT_COUNTRY`` (FRA, the study's country; the
    sites that existed before the field got it too, an administrator corrects it in the admin)."""
    return settings.STUDY_DEFAULT_COUNTRY


class Site(CleanTextModel, models.Model):
    """A recruiting centre. Its code prefixes its patients' subject ids."""

    code = models.CharField(
        _("code"),
        max_length=2,
        unique=True,
        validators=[RegexValidator(r"\A[0-9]{2}\Z", _("A site code is two digits, e.g. 01."),
                                   code="site_code_format")],
        help_text=_("Two digits; prefixes the subject ids of this site's patients (01-001)."),
    )
    name = models.CharField(_("name"), max_length=200)
    time_zone = models.CharField(
        _("time zone"), max_length=64, default="Europe/Paris", validators=[validate_time_zone],
        help_text=_("Dates and times are shown in this zone to the site's staff."),
    )
    country = models.CharField(
        _("country"), max_length=3, default=default_country, validators=[validate_country],
        help_text=_("ISO 3166-1 alpha-3 code, e.g. FRA, DEU, GBR (exported as SDTM DM COUNTRY)."),
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["code"]
        verbose_name = _("site")
        verbose_name_plural = _("sites")

    def __str__(self):
        return f"{self.code} {self.name}"


class Membership(models.Model):
    """A user's role, at a site (clinician, investigator) or study-wide."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("user")
    )
    site = models.ForeignKey(
        Site, on_delete=models.PROTECT, related_name="memberships", null=True, blank=True, verbose_name=_("site"),
        help_text=_("Required for clinicians and investigators; empty for study-wide roles."),
    )
    role = models.CharField(_("role"), max_length=20, choices=Role.choices)
    history = HistoricalRecords()

    class Meta:
        ordering = ["user__username", "role"]
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.UniqueConstraint(fields=["user", "site", "role"], name="membership_unique"),
            models.UniqueConstraint(
                fields=["user", "role"], condition=Q(site__isnull=True),
                name="membership_unique_study_wide",
            ),
            models.CheckConstraint(
                condition=~Q(role__in=sorted(r.value for r in SITE_ROLES)) | Q(site__isnull=False),
                name="membership_site_role_has_site",
            ),
        ]

    def clean(self):
        if self.role in SITE_ROLES and self.site_id is None:
            raise ValidationError(
                {"site": ValidationError(_("A %(role)s belongs to a site."), code="site_required",
                                         params={"role": self.get_role_display().lower()})}
            )
        if self.role in STUDY_WIDE_ROLES and self.site_id is not None:
            raise ValidationError(
                {"site": ValidationError(_("A %(role)s is study-wide: leave the site empty."),
                                         code="site_not_allowed",
                                         params={"role": self.get_role_display().lower()})}
            )

    def __str__(self):
        where = self.site.code if self.site_id else "all sites"
        return f"{self.user} – {self.get_role_display()} ({where})"


class PasswordAge(models.Model):
    """When a user's password was last set: the clock of ``PASSWORD_MAX_AGE_DAYS``.

    Written by :class:`accounts.passwords.NotTheCurrentPasswordValidator` on
    every password change (self-service, the admin's "change password",
    ``createsuperuser``, ``seed_demo``: Django calls the validators'
    ``password_changed`` after every save that follows ``set_password``).
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                related_name="password_age", primary_key=True)
    changed_at = models.DateTimeField()

    def __str__(self):
        return f"{self.user}: password set {self.changed_at:%Y-%m-%d %H:%M}"


class RolePolicy(CleanTextModel, models.Model):
    """Per-role security policy an administrator edits in the Django admin.

    ``require_two_factor``: the role's users must confirm a time-based
    one-time password (TOTP) after their password; one who has no
    authenticator yet is sent to set one up right after logging in. A user
    with several roles is bound by the strictest. Read at login only: a
    change applies from each user's next login.
    """

    role = models.CharField(_("role"), max_length=20, choices=Role.choices, unique=True)
    require_two_factor = models.BooleanField(
        _("require two-factor authentication"), default=False,
        help_text=_("Users with this role must enter a code from an authenticator app after "
                  "their password (from their next login)."))

    class Meta:
        ordering = ["role"]
        verbose_name = _("role policy")
        verbose_name_plural = _("role policies")

    def __str__(self):
        return self.get_role_display()


class CalendarTokenQuerySet(models.QuerySet):
    def active(self):
        return self.filter(revoked_at__isnull=True)


class CalendarToken(CleanTextModel, models.Model):
    """The secret of a user's calendar feed (``/calendar/<token>.ics``): only its
    SHA-256 digest is kept (the token is shown once, when created). At most one
    active token per user; revoking keeps the row (``revoked_at``), regenerating
    revokes the old one and creates a new one (``accounts.services.calendar_token_*``)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_tokens")
    digest = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=8, editable=False, help_text=_("The token's first characters, to tell it apart."))
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = CalendarTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["user"], condition=models.Q(revoked_at__isnull=True),
                                               name="calendar_token_one_active_per_user")]

    def __str__(self):
        return f"Calendar feed {self.prefix}… of {self.user}"


class Profile(CleanTextModel, models.Model):
    """A user's own settings: today, the language of their screens, e-mails and PDF
    casebooks (issue 16). Blank: the browser's language. Read once at login into the
    session (``accounts.languages``), never per request; notifications read it for
    the recipient."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                related_name="profile")
    language = models.CharField(
        _("language"), max_length=8, blank=True, choices=settings.LANGUAGES,
        help_text=_("The language of your screens, e-mails and PDF casebooks; blank: your browser's."))

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("profile")
        verbose_name_plural = _("profiles")

    def __str__(self):
        return f"{self.user}: {self.language or 'browser language'}"
