"""The study's roles, as plain data (no ORM): names, scope and permissions.

A role is a Django ``Group`` of the same name (created by a data migration);
a user holds a role through a :class:`accounts.models.Membership`, at one site
(clinician, investigator) or study-wide (coordinator, monitor, admin).
Each capture app grants its own models' permissions to the roles in a data
migration with :func:`grant_permissions`, so this module knows no clinical
model.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    CLINICIAN = "clinician", _("Clinician")
    INVESTIGATOR = "investigator", _("Investigator")
    COORDINATOR = "coordinator", _("Coordinator")
    MONITOR = "monitor", _("Monitor")
    ADMIN = "admin", _("Administrator")


#: Roles that see every site's patients.
STUDY_WIDE_ROLES = frozenset({Role.COORDINATOR, Role.MONITOR, Role.ADMIN})
#: Roles that enter data, and so must belong to a site.
SITE_ROLES = frozenset({Role.CLINICIAN, Role.INVESTIGATOR})


def create_role_groups(apps, schema_editor):
    """Data migration: one Group per role."""
    Group = apps.get_model("auth", "Group")
    for role in Role:
        Group.objects.get_or_create(name=role.value)


def grant_permissions(apps, app_label, matrix, custom=False):
    """Data-migration helper: give roles the permissions of ``app_label``.

    ``matrix`` maps a role name to ``{model_name: ("view", "add", ...)}``;
    an action that is a model's custom permission codename (``custom=True``)
    is taken as it is.
    Permissions are created first (Django only creates them after
    ``migrate`` has finished, too late for a data migration).
    """
    from django.contrib.auth.management import create_permissions

    app_config = apps.get_app_config(app_label)
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role_name, models_actions in matrix.items():
        group, _created = Group.objects.get_or_create(name=role_name)
        for model_name, actions in models_actions.items():
            codenames = [action if custom and "_" in action else f"{action}_{model_name}"
                         for action in actions]
            perms = Permission.objects.filter(
                content_type__app_label=app_label, codename__in=codenames
            )
            missing = set(codenames) - set(perms.values_list("codename", flat=True))
            if missing:
                raise RuntimeError(f"Unknown permissions for {app_label}: {sorted(missing)}")
            group.permissions.add(*perms)
