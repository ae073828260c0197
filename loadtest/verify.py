"""Check the load test's saves against the database and write the report.

    python loadtest/verify.py SETUP.json RESULTS.json SERVER_LOG REPORT.md

Every save a clinician was told succeeded (302 to the timeline, API 201) must
be in the database exactly once: its two infusions (found by the unique lot
typed), one cycle of the right patient and number, one assessment, and one
creation history row for each. A refused or failed submission must have
stored nothing. Exit status 1 when anything is lost, duplicated or partial,
when a 5xx happened outside the fault window, or a clinician could not log in.
"""

import json
import os
import platform
import re
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import date, datetime, timezone

import django

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loadtest.settings")
django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402

from visits.models import Assessment, Infusion, ProtocolDeviation, TreatmentCycle  # noqa: E402


def pct(values, p):
    if not values:
        return 0.0
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def main(setup_path, results_path, server_log, report_path):
    setup = json.load(open(setup_path))
    results = json.load(open(results_path))
    reqs, saves, fault, race = results["requests"], results["saves"], results["fault"], results["race"]
    timed = reqs[:results["timed_requests"]]
    problems = []

    # --- Requests -----------------------------------------------------------------------
    fault_t = fault.get("t")

    def in_fault(r):
        return (fault_t is not None and r.get("db_unavailable") and r["status"] == 503
                and r["t0"] <= fault_t + 0.5 and r.get("t1", r["t0"]) >= fault_t)

    fault_5xx = [r for r in reqs if isinstance(r["status"], int) and r["status"] >= 500 and in_fault(r)]
    other_5xx = [r for r in reqs if isinstance(r["status"], int) and r["status"] >= 500 and not in_fault(r)]
    broken = [r for r in reqs if not isinstance(r["status"], int)]
    if other_5xx:
        problems.append(f"{len(other_5xx)} 5xx answers outside the fault window: "
                        + ", ".join(f"{r['kind']} {r['status']} at {r['t0']} s" for r in other_5xx[:5]))
    if broken:
        problems.append(f"{len(broken)} requests without an HTTP answer: "
                        + ", ".join(f"{r['kind']} {r['status']}" for r in broken[:5]))

    kinds = ["login_form", "login_post", "cycle_form", "cycle_post", "timeline", "api_list", "api_post"]
    rows = []
    for kind in kinds + sorted({r["kind"] for r in reqs} - set(kinds)):
        these = [r for r in reqs if r["kind"] == kind]
        if not these:
            continue
        ms = [r["ms"] for r in these]
        statuses = Counter(r["status"] for r in these)
        five = sum(n for s, n in statuses.items() if isinstance(s, int) and s >= 500)
        four = sum(n for s, n in statuses.items() if isinstance(s, int) and 400 <= s < 500)
        rows.append(f"| {kind} | {len(these)} | {four} | {five} | {pct(ms, 50):.0f} | {pct(ms, 95):.0f} | "
                    f"{max(ms):.0f} | {', '.join(f'{s}: {n}' for s, n in sorted(statuses.items(), key=str))} |")
    all_ms = [r["ms"] for r in reqs]
    rate = len(timed) / results["elapsed"] if results["elapsed"] else 0

    # --- Saves against the database ------------------------------------------------------
    load_patients = [p["pk"] for rows_ in setup["patients"].values() for p in rows_]
    infusions = defaultdict(list)
    for inf in Infusion.objects.filter(cycle__patient_id__in=load_patients).select_related("cycle"):
        infusions[inf.lot].append(inf)
    cycle_history = Counter(TreatmentCycle.history.filter(history_type="+", patient_id__in=load_patients)
                            .values_list("id", flat=True))
    assessment_history = Counter(Assessment.history.filter(history_type="+", patient_id__in=load_patients)
                                 .values_list("id", flat=True))
    infusion_history = Counter(Infusion.history.filter(history_type="+",
                                                       cycle__patient_id__in=load_patients)
                               .values_list("id", flat=True))
    assessments = Counter(Assessment.objects.filter(cycle__patient_id__in=load_patients)
                          .values_list("cycle_id", flat=True))
    underdose_open = set(ProtocolDeviation.objects.filter(patient_id__in=load_patients, kind="underdose", day=2)
                         .open().values_list("cycle_id", flat=True))

    lost, duplicated, wrong, partial, stored_after_error, underdose_missing = [], [], [], [], [], []
    accounted_cycles = set()
    saved = [s for s in saves if s["outcome"] == "saved"]
    by_lot = defaultdict(list)  # a resubmission after a 503 types the same lot again
    for s in saves:
        by_lot[s["lot"]].append(s)
    for lot, entries in by_lot.items():
        day1, day2 = infusions.get(f"{lot}-1", []), infusions.get(f"{lot}-2", [])
        told_saved = [s for s in entries if s["outcome"] == "saved"]
        if len(told_saved) > 1 or len(day1) > 1 or len(day2) > 1:
            duplicated.append(entries[0])
            continue
        if not day1 and not day2:
            if told_saved:
                lost.append(told_saved[0])
            continue
        if len(day1) != 1 or len(day2) != 1 or day1[0].cycle_id != day2[0].cycle_id:
            partial.append(entries[0])
            continue
        cycle = day1[0].cycle
        accounted_cycles.add(cycle.pk)
        if assessments[cycle.pk] != 1:
            partial.append(entries[0])
        if cycle_history[cycle.pk] != 1 or infusion_history[day1[0].pk] != 1 \
                or infusion_history[day2[0].pk] != 1:
            duplicated.append(entries[0])
        if not told_saved:
            if any(s["outcome"] == "error" for s in entries):
                stored_after_error.append(entries[0])
            else:
                partial.append(entries[0])  # refused, yet stored
            continue
        s = told_saved[0]
        if cycle.patient_id != s["patient"] or cycle.number != s["number"] \
                or cycle.start_date.isoformat() != s["typed_start"]:
            wrong.append(s)
        if s.get("underdose") and cycle.pk not in underdose_open:
            underdose_missing.append(s)
    # Every cycle of the load-test patients is a known submission, whole, numbered 1..n.
    unknown, gaps = [], []
    for patient_id in load_patients:
        cycles = list(TreatmentCycle.objects.filter(patient_id=patient_id).order_by("number"))
        if [c.number for c in cycles] != list(range(1, len(cycles) + 1)):
            gaps.append(patient_id)
        starts = [c.start_date for c in cycles]
        if starts != sorted(set(starts)):
            gaps.append(patient_id)
        unknown += [c.pk for c in cycles if c.pk not in accounted_cycles]
    stray_assessment_history = sum(1 for pk, n in assessment_history.items() if n != 1)

    for label, items in (("lost", lost), ("duplicated", duplicated), ("partial", partial),
                         ("saved with another patient/number/date than answered", wrong)):
        if items:
            problems.append(f"{len(items)} {label}: " + ", ".join(s["lot"] for s in items[:5]))
    if unknown:
        problems.append(f"{len(unknown)} cycles in the database that no clinician was told about: {unknown[:5]}")
    if gaps:
        problems.append(f"cycle numbers or dates out of order for patients {sorted(set(gaps))}")
    if stray_assessment_history:
        problems.append(f"{stray_assessment_history} assessments with other than one creation history row")
    if underdose_missing:
        problems.append(f"{len(underdose_missing)} under-doses without an open deviation")
    logins = sum(1 for r in reqs if r["kind"] == "login_post" and r["status"] == 302)
    if results.get("login_failures") or logins < results["clinicians"]:
        problems.append(f"only {logins} of {results['clinicians']} clinicians logged in: "
                        f"{results.get('login_failures')}")

    # Race pairs: exactly one of the two saved, the other refused with a message.
    race_bad = [r for r in race if sorted(map(str, r["outcomes"])) != ["refused", "saved"] or not r["errors"]]
    if race_bad:
        problems.append(f"{len(race_bad)} simultaneous pairs did not end as one save and one clear refusal")

    tracebacks = 0
    if os.path.exists(server_log):
        tracebacks = open(server_log, errors="replace").read().count("Traceback")

    # --- Report ---------------------------------------------------------------------------
    by_outcome = Counter((s["via"], s["outcome"]) for s in saves if not s.get("race"))
    refusals = Counter(f"{s['via']}: " + re.sub(r"\d{4}-\d\d-\d\d", "<date>", e)[:100]
                       for s in saves if s["outcome"] == "refused" for e in s.get("errors", [])[:1])
    with connection.cursor() as cur:
        cur.execute("SELECT version()")
        pg_version = cur.fetchone()[0].split(" on ")[0]
    try:
        git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    except OSError:
        git = "?"
    verdict = "PASS" if not problems else "FAIL"
    fault_line = "not run (FAULT=0)"
    if fault:
        states = Counter(b["state"] or "?" for b in fault.get("backends", []))
        fault_line = (f"at {fault['t']:.1f} s, {fault['terminated']} backends terminated "
                      f"({', '.join(f'{n} {s}' for s, n in states.items())}); "
                      f"{len(fault_5xx)} requests in flight answered 503 'database could not be reached' "
                      f"({', '.join(f'{k}: {n}' for k, n in Counter(r['kind'] for r in fault_5xx).items()) or '-'})")
    lines = [
        "# Load test: eight clinicians recording treatment cycles",
        "",
        f"- Date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; commit {git or '?'} (plus uncommitted work in the tree)",
        f"- Machine: {os.cpu_count()} CPUs (nproc), {platform.platform()}; load average "
        f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} at the end (latencies depend on what else runs)",
        f"- Python {platform.python_version()}, Django {django.get_version()}, {pg_version} on 127.0.0.1",
        f"- Server: gunicorn {os.environ.get('WORKERS', '?')} sync workers, DEBUG off, plain HTTP on 127.0.0.1 "
        "(SECURE_SSL_REDIRECT=0, SECURE_COOKIES=0), django-axes on, database sessions, "
        f"CONN_MAX_AGE {settings.DATABASES['default'].get('CONN_MAX_AGE')}",
        f"- Load: {results['clinicians']} clinicians (threads, one requests.Session each, real login form "
        f"and passwords, {len(setup['clinicians']) // max(len(setup['patients']), 1)} per site), "
        f"{results['duration']:.0f} s each (DURATION); 3 shared load-test patients per site; 1 in 4 cycles "
        "through the API (token), 1 in 5 with an under-dose on day 2; then "
        f"{len(race)} deliberately simultaneous pairs (RACE_ROUNDS)",
        "",
        "## Requests",
        "",
        f"{len(reqs)} requests ({len(timed)} in the timed phase: {rate:.1f} requests/s over "
        f"{results['elapsed']:.1f} s); latency in ms, client side.",
        "",
        "| kind | requests | 4xx | 5xx | p50 | p95 | max | statuses |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
        *rows,
        f"| **all** | {len(reqs)} | {sum(1 for r in reqs if isinstance(r['status'], int) and 400 <= r['status'] < 500)} "
        f"| {len(fault_5xx) + len(other_5xx)} | {pct(all_ms, 50):.0f} | {pct(all_ms, 95):.0f} | "
        f"{max(all_ms) if all_ms else 0:.0f} | |",
        "",
        "4xx here are expected answers: a 400 on `api_post` is a refused cycle (see below).",
        "",
        "## Saves",
        "",
        f"- Cycles saved: {len(saved)} ({sum(1 for s in saved if s['via'] == 'web')} through the form, "
        f"{sum(1 for s in saved if s['via'] == 'api')} through the API; "
        f"{sum(1 for s in saved if s.get('underdose'))} with an under-dose)",
        f"- Timed phase, per channel and outcome: "
        + ", ".join(f"{via} {outcome}: {n}" for (via, outcome), n in sorted(by_outcome.items())),
        f"- Refused submissions (another clinician had just recorded that patient's cycle): "
        f"{sum(1 for s in saves if s['outcome'] == 'refused')}; messages: "
        + "; ".join(f"\"{m}\" x{n}" for m, n in refusals.most_common(4)),
        f"- Checked in the database: lost {len(lost)}, duplicated {len(duplicated)}, partial {len(partial)}, "
        f"wrong patient/number/date {len(wrong)}, cycles nobody was told about {len(unknown)}, "
        f"under-doses without their deviation {len(underdose_missing)}; every saved cycle has one assessment, "
        "two infusions and exactly one creation history row for the cycle and each infusion",
        f"- Resubmitted after a 503 (the same entries again, as the page asks): "
        f"{sum(1 for s in saves if s.get('resubmitted'))}, of which saved "
        f"{sum(1 for s in saves if s.get('resubmitted') and s['outcome'] == 'saved')}",
        f"- Stored although the answer was a 503 (the commit happened, the answer was lost): "
        f"{len(stored_after_error)}",
        "",
        "## Two clinicians, one patient, the same moment",
        "",
        "| via | patient | outcomes | statuses | message to the one refused |",
        "|---|---|---|---|---|",
        *[f"| {r['via']} | {r['patient']} | {' / '.join(map(str, r['outcomes']))} | "
          f"{' / '.join(map(str, r['statuses']))} | {(r['errors'] or ['-'])[0][:110]} |" for r in race],
        "",
        "## Fault: every database connection terminated once",
        "",
        f"- {fault_line}",
        f"- 5xx outside that window: {len(other_5xx)}; requests without an answer: {len(broken)}; "
        f"tracebacks in the server log: {tracebacks} (logged errors of the terminated requests are expected)",
        "",
        f"## Verdict: {verdict}",
        "",
    ]
    lines += [f"- {p}" for p in problems] or ["- No 5xx outside the fault window, no lost, duplicated or partial "
                                              "save; concurrent writers of one patient got a form error or a 400."]
    text = "\n".join(lines) + "\n"
    with open(report_path, "w") as fh:
        fh.write(text)
    print(text)
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:5]))
