"""Prepare the load-test database (run after ``migrate`` and ``seed_demo``).

Creates eight clinician accounts with real (random) passwords, four at each
demo site, an API token each, and three load-test patients per site enrolled
long enough ago that every cycle of the run can be dated 28 days after the
previous one without reaching the future. Writes the accounts, passwords,
tokens and patients as JSON to the path given.
"""

import json
import os
import secrets
import sys
from datetime import timedelta

import django

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loadtest.settings")
django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.db import transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.models import Membership, Site  # noqa: E402
from api.services import token_create  # noqa: E402
from core.services import record_save  # noqa: E402
from patients.models import Patient  # noqa: E402

CLINICIANS = int(os.environ.get("CLINICIANS", "8"))
PATIENTS_PER_SITE = int(os.environ.get("PATIENTS_PER_SITE", "3"))
#: Room for this many 28-day cycles per patient before today.
CYCLE_ROOM = 400


def main(out_path):
    today = timezone.localdate()
    enrolment = today - timedelta(days=28 * CYCLE_ROOM + 14)
    admin = User.objects.get(username="admin")
    sites = list(Site.objects.order_by("code"))
    out = {"clinicians": [], "patients": {}, "demo_patients": {}}
    with transaction.atomic():
        for i in range(CLINICIANS):
            site = sites[i % len(sites)]
            username = f"loadclin{i + 1}"
            password = secrets.token_urlsafe(18)
            user, _ = User.objects.get_or_create(username=username, defaults={
                "first_name": "Load", "last_name": f"Clinician {i + 1}"})
            user.set_password(password)
            user.save()
            Membership.objects.get_or_create(user=user, site=site, role="clinician")
            _, token = token_create(user=user)  # shown once: kept in the load test's own file
            out["clinicians"].append({"username": username, "password": password, "token": token,
                                      "site": site.code})
        for site in sites:
            rows = []
            for n in range(PATIENTS_PER_SITE):
                patient = record_save(user=admin, instance=Patient(
                    subject_id=f"{site.code}-{901 + n}", site=site, sex="F" if n % 2 else "M",
                    birth_year=enrolment.year - 45 - n, race="WHITE",
                    consent_date=enrolment - timedelta(days=7), enrolment_date=enrolment,
                    symptom_onset_date=enrolment - timedelta(days=60),
                    active_myopathy=True, ctd_associated=False, status="on_study"))
                # Cycle n starts on first_start + 28 (n - 1) days.
                rows.append({"pk": patient.pk, "subject_id": patient.subject_id,
                             "first_start": (enrolment + timedelta(days=7)).isoformat(),
                             "weight_kg": str(60 + 7 * n), "at_risk": patient.infusion_risk})
            out["patients"][site.code] = rows
            out["demo_patients"][site.code] = list(
                Patient.objects.filter(site=site).exclude(subject_id__in=[r["subject_id"] for r in rows])
                .values_list("pk", flat=True))
    with open(out_path, "w") as fh:
        json.dump(out, fh, indent=1)
    print(f"{len(out['clinicians'])} clinicians, "
          f"{sum(len(v) for v in out['patients'].values())} load-test patients "
          f"(enrolled {enrolment}), demo patients {sum(len(v) for v in out['demo_patients'].values())}")


if __name__ == "__main__":
    main(sys.argv[1])
