"""The measuring half of `make bench` (bench/run.sh drives it).

    bench.py users                  bench users: a clinician at the largest site, a coordinator
    bench.py cohort --out F         row counts of the database
    bench.py export-one --format X  one export in this (fresh) process: seconds, rows, peak RSS growth
    bench.py memory --label L --out F   export-one for every format, each in a fresh process
    bench.py exports --out F        CSV export (warm) vs COPY of the same joined rows
    bench.py report --out F         outcome_report() vs one hand-written SQL query
    bench.py pages --base URL --out F   wrk: pages vs /healthz/; the report's latency
    bench.py summary --tmp DIR --results FILE   the table, PASS/MISS, bench/results.md
    bench.py profile-pages [--top N] [--requests N]   the pages in this process (test client):
                                    CPU ms per request, queries, and cProfile's top functions
    bench.py profile-export --format X [--top N]   one export drained in this process: wall and
                                    CPU seconds, queries (the slowest), cProfile's top functions

    bench.py job-overhead --out F [--formats csv,xlsx]   the same export streamed to a null sink
                                    vs run as a background job (JobFile, progress, storage)

DATABASE_URL (and the rest of the settings' environment) come from run.sh.
"""

import argparse
import gc
import json
import os
import platform
import re
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ivigtrial.settings")

CLINICIAN, COORDINATOR = "bench_clinician", "bench_coordinator"
PASSWORD = "bench-Pa55word-not-secret"
FORMATS = ["csv", "xlsx", "odm", "sdtm", "fhir"]
#: Issue 15, part 5: each export of the 10,000-patient cohort, in a fresh process, in under
#: this many seconds on the 2-core bench machine.
EXPORT_TARGET_SECONDS = {"xlsx": 20, "*": 10}


def setup():
    import django

    django.setup()


def dump(path, data):
    Path(path).write_text(json.dumps(data, indent=2, default=str) + "\n")


# --- database ------------------------------------------------------------------

def cmd_users(args):
    setup()
    from django.contrib.auth.models import User
    from django.db.models import Count

    from accounts.models import Membership, Site

    from patients.models import Patient

    site_id = (Patient.objects.order_by().values("site").annotate(n=Count("pk")).order_by("-n", "site")
               .values_list("site", flat=True).first())
    site = Site.objects.get(pk=site_id)
    for username, role, where in ((CLINICIAN, "clinician", site), (COORDINATOR, "coordinator", None)):
        user, _ = User.objects.get_or_create(username=username)
        user.set_password(PASSWORD)
        user.save()
        Membership.objects.get_or_create(user=user, role=role, site=where)
    print(f"bench users ready; clinician at site {site.code}")


def cmd_cohort(args):
    setup()
    from django.db import connection

    counts = {}
    with connection.cursor() as cursor:
        for table in ("patients_patient", "visits_treatmentcycle", "visits_assessment", "visits_infusion",
                      "safety_adverseevent", "visits_protocoldeviation", "patients_malignancyhistory",
                      "accounts_site"):
            cursor.execute(f"SELECT count(*) FROM {table}")
            counts[table] = cursor.fetchone()[0]
        cursor.execute("SELECT pg_database_size(current_database())")
        counts["database_mb"] = round(cursor.fetchone()[0] / 2**20, 1)
    dump(args.out, counts)
    print("  " + ", ".join(f"{k} {v}" for k, v in counts.items()))


# --- exports ---------------------------------------------------------------------

def _status_kb(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def cmd_export_one(args):
    """One export, in this fresh process, into a null sink."""
    setup()
    from django.db import connection

    from exchange.exports import get_format
    from exchange.services import export_cohort

    get_format(args.format).stream  # noqa: B018 - the writer's module is imported on use:
    import importlib
    importlib.import_module("exchange.exports." + get_format(args.format).writer.split(":")[0])
    connection.ensure_connection()
    gc.collect()
    before_kb = _status_kb("VmRSS")
    try:  # reset the peak (VmHWM) to the current RSS (Linux >= 4.0)
        Path("/proc/self/clear_refs").write_text("5")
        peak_source = "VmHWM (reset)"
    except OSError:
        peak_source = "ru_maxrss"
    t0, cpu0 = time.perf_counter(), time.process_time()
    log, export_format, chunks = export_cohort(format_name=args.format, channel="cli")
    size = 0
    for chunk in chunks:
        size += len(chunk)
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - cpu0
    if peak_source.startswith("VmHWM"):
        peak_kb = _status_kb("VmHWM")
    else:
        import resource
        peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rows = sum(log.row_counts.values())
    print(json.dumps({"format": args.format, "seconds": seconds, "cpu_seconds": cpu_seconds, "rows": rows, "rows_per_s": rows / seconds,
                      "bytes": size, "rss_before_mb": before_kb / 1024, "peak_mb": peak_kb / 1024,
                      "growth_mb": max(0, peak_kb - before_kb) / 1024, "peak_source": peak_source,
                      "row_counts": log.row_counts}))


def cmd_memory(args):
    timeout = int(os.environ.get("BENCH_EXPORT_TIMEOUT", "300"))
    results = {}
    for name in args.formats.split(","):
        try:
            out = subprocess.run([sys.executable, __file__, "export-one", "--format", name], capture_output=True,
                                 text=True, timeout=timeout, check=True).stdout
            results[name] = json.loads(out.strip().splitlines()[-1])
            r = results[name]
            print(f"  {name:5} {r['rows']:>8} rows {r['seconds']:7.2f} s {r['rows_per_s']:>9.0f} rows/s "
                  f"{r['bytes'] / 2**20:7.1f} MB out, peak RSS growth {r['growth_mb']:6.1f} MB")
        except subprocess.TimeoutExpired:
            results[name] = {"format": name, "error": f"timeout after {timeout} s"}
            print(f"  {name}: timeout after {timeout} s")
        except subprocess.CalledProcessError as exc:
            results[name] = {"format": name, "error": exc.stderr[-2000:]}
            print(f"  {name}: failed\n{exc.stderr[-2000:]}")
    dump(args.out, {"label": args.label, "exports": results})


class CountingSink:
    def __init__(self):
        self.bytes = 0

    def write(self, data):
        self.bytes += len(data)
        return len(data)


def cmd_exports(args):
    """The CSV export (warm: best of --repeat) vs COPY of the same joined rows (best of --repeat)."""
    setup()
    from django.db import connection

    from exchange.services import export_cohort
    from sql import COPY_QUERIES

    app = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        log, _fmt, chunks = export_cohort(format_name="csv", channel="cli")
        size = sum(len(c) for c in chunks)
        app.append(time.perf_counter() - t0)
    app_rows = sum(log.row_counts.values())

    copy_runs = []
    connection.ensure_connection()
    pg = connection.connection  # the psycopg2 connection
    for _ in range(args.repeat):
        rows, sink = 0, CountingSink()
        t0 = time.perf_counter()
        with pg.cursor() as cursor:
            for sql in COPY_QUERIES.values():
                cursor.copy_expert(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv, HEADER)", sink)
                rows += cursor.rowcount
        copy_runs.append(time.perf_counter() - t0)
    pg.rollback()
    result = {
        "csv_seconds": min(app), "csv_runs": app, "csv_rows": app_rows, "csv_bytes_zipped": size,
        "csv_rows_per_s": app_rows / min(app),
        "copy_seconds": min(copy_runs), "copy_runs": copy_runs, "copy_rows": rows, "copy_bytes": sink.bytes,
        "copy_rows_per_s": rows / min(copy_runs),
    }
    result["ratio"] = result["csv_rows_per_s"] / result["copy_rows_per_s"]
    dump(args.out, result)
    print(f"  CSV export {app_rows} rows in {min(app):.2f} s ({result['csv_rows_per_s']:.0f} rows/s); "
          f"COPY {rows} rows in {min(copy_runs):.2f} s ({result['copy_rows_per_s']:.0f} rows/s); "
          f"ratio {result['ratio']:.2f}")


# --- the report ------------------------------------------------------------------

def cmd_report(args):
    setup()
    from django.contrib.auth.models import User
    from django.db import connection

    from exchange import datasets
    from reporting import selectors
    from sql import REPORT_SQL

    user = User.objects.get(username=COORDINATOR)
    app = []
    for _ in range(args.repeat):
        user = User.objects.get(username=COORDINATOR)  # no cached access between runs
        t0 = time.perf_counter()
        report = selectors.outcome_report(datasets.cohort(user=user))
        app.append(time.perf_counter() - t0)
    sql = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(REPORT_SQL)
            columns = [c.name for c in cursor.description]
            row = dict(zip(columns, cursor.fetchone()))
        sql.append(time.perf_counter() - t0)
    # The same figures? A few spot checks, printed (not failed on: the SQL is a yardstick).
    checks = {
        "n": (report.n, row["n"]),
        "women": (report.baseline["women"], row["women"]),
        "pm": (report.baseline["pm"], row["pm"]),
        "with_malignancy": (report.baseline["with_malignancy"], row["with_malignancy"]),
        "malignancy_timing": (report.baseline["malignancy_timing"],
                              {"before": row["mal_before"], "during": row["mal_during"], "after": row["mal_after"]}),
        "age_mean": (report.baseline["age"].mean, row["age_mean"]),
        "duration_mean": (report.baseline["duration"].mean, row["duration_mean"]),
        "ck_baseline_median": (report.baseline["ck"].median, row["ck_baseline_quartiles"][1]
                               if row["ck_baseline_quartiles"] else None),
        "total_g": (report.exposure["total_g"], row["total_g"]),
        "days": (report.exposure["days"], row["days"]),
        "within": (report.exposure["within"], row["within"]),
        "deviations_total": (report.exposure["deviations_open"] + report.exposure["deviations_resolved"],
                             sum((row["deviations"] or {}).values())),
        "ck_responders": (report.outcomes["ck_responders"].k, row["ck_responders"]),
        "mmt_improved": (report.outcomes["mmt_improved"].k, row["mmt_improved"]),
        "ae_total": (report.safety["total"], row["ae_total"]),
        "ae_patients": (report.safety["patients"].k, row["ae_patients"]),
        "ck_points": (report.ck_points, row["ck_points"]),
    }
    mismatches = {k: v for k, v in checks.items() if not _same(*v)}
    result = {"patients": report.n, "app_seconds": min(app), "app_runs": app, "sql_seconds": min(sql),
              "sql_runs": sql, "ratio": min(app) / min(sql), "checks": checks, "mismatches": mismatches}
    dump(args.out, result)
    print(f"  outcome_report {min(app):.3f} s, one SQL query {min(sql):.3f} s, ratio {result['ratio']:.2f}"
          + (f"; figures that differ: {mismatches}" if mismatches else "; spot-checked figures agree"))


def _same(a, b):
    if isinstance(a, dict):
        return all(_same(a[k], (b or {}).get(k)) for k in a)
    if a is None or b is None:
        return a is None and b is None
    return abs(float(a) - float(b)) <= 1e-6 * max(1.0, abs(float(a)))


# --- pages -----------------------------------------------------------------------

def _login(base, username):
    import requests

    s = requests.Session()
    r = s.get(f"{base}/accounts/login/", timeout=30)
    r.raise_for_status()
    token = s.cookies["csrftoken"]
    r = s.post(f"{base}/accounts/login/", data={"username": username, "password": PASSWORD,
                                                "csrfmiddlewaretoken": token},
               headers={"Referer": f"{base}/accounts/login/"}, allow_redirects=False, timeout=30)
    if r.status_code != 302 or "sessionid" not in s.cookies:
        raise SystemExit(f"login as {username} failed: {r.status_code}")
    return s


def _check(session, url, marker):
    r = session.get(url, allow_redirects=False, timeout=120)
    if r.status_code != 200 or (marker and marker not in r.text):
        raise SystemExit(f"{url}: HTTP {r.status_code}, marker {marker!r} "
                         f"{'found' if marker in r.text else 'missing'}")
    return len(r.content)


def _wrk(url, cookie, duration, connections, threads):
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "30s",
           "-s", str(BENCH / "wrk_json.lua"), "-H", f"Cookie: {cookie}", url]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("BENCHJSON "))
    return json.loads(line[len("BENCHJSON "):])


def cmd_pages(args):
    setup()
    from django.db.models import Count, Q

    from patients.models import Patient

    base = args.base
    duration = int(os.environ.get("BENCH_WRK_DURATION", "10"))
    connections = int(os.environ.get("BENCH_WRK_CONNECTIONS", "8"))
    threads = int(os.environ.get("BENCH_WRK_THREADS", "1"))
    clinician = _login(base, CLINICIAN)
    coordinator = _login(base, COORDINATOR)
    from django.contrib.auth.models import User
    site_id = User.objects.get(username=CLINICIAN).memberships.get().site_id
    # The timeline and the form: a patient of the clinician's site, on study (not locked) if
    # possible, with the most cycles.
    patient = (Patient.objects.filter(site_id=site_id, locked_at__isnull=True)
               .annotate(n=Count("cycles", distinct=True), on=Count("pk", filter=Q(status="on_study")))
               .order_by("-on", "-n", "pk").first())
    at_site = Patient.objects.filter(site_id=site_id).count()
    pages = [
        ("healthz", "/healthz/", "ok", clinician),
        ("patient list", "/patients/", "", clinician),
        ("timeline", f"/patients/{patient.pk}/timeline/", patient.subject_id, clinician),
        ("cycle form", f"/patients/{patient.pk}/cycles/new/", "<form", clinician),
        ("healthz (again)", "/healthz/", "ok", clinician),
    ]
    from django.conf import settings
    results = {"conn_max_age": settings.DATABASES["default"].get("CONN_MAX_AGE", 0), "patient": patient.subject_id, "patient_cycles": patient.n, "patients_at_site": at_site,
               "duration_s": duration, "connections": connections, "threads": threads, "pages": {}}
    for name, path, marker, session in pages:
        url = base + path
        size = _check(session, url, marker)
        for _ in range(3):  # warm both workers
            session.get(url, timeout=120)
        cookie = "; ".join(f"{k}={v}" for k, v in session.cookies.items())
        r = _wrk(url, cookie, duration, connections, threads)
        r.update(path=path, bytes=size)
        results["pages"][name] = r
        print(f"  {name:16} {r['rps']:8.1f} req/s  p50 {r['p50_ms']:7.1f} ms  p95 {r['p95_ms']:7.1f} ms  "
              f"{size / 1024:6.1f} KiB" + (f"  errors {r['status_errors'] + r['timeouts']}"
                                            if r['status_errors'] + r['timeouts'] else ""))
    # The report: one user at a time, its latency (p95 over at least 10 requests or 30 s).
    url = base + "/reports/"
    size = _check(coordinator, url, "")
    times = []
    t_end = time.perf_counter() + float(os.environ.get("BENCH_REPORT_SECONDS", "30"))
    while len(times) < 10 or (time.perf_counter() < t_end and len(times) < 40):
        t0 = time.perf_counter()
        r = coordinator.get(url, timeout=120)
        times.append(time.perf_counter() - t0)
        if r.status_code != 200:
            raise SystemExit(f"/reports/: HTTP {r.status_code}")
        if len(times) >= 10 and time.perf_counter() > t_end:
            break
    times.sort()
    p95 = times[min(len(times) - 1, int(round(0.95 * len(times) + 0.5)) - 1)]
    results["report"] = {"requests": len(times), "p50_ms": 1000 * times[len(times) // 2], "p95_ms": 1000 * p95,
                         "max_ms": 1000 * times[-1], "bytes": size}
    print(f"  report (1 user)  {len(times)} requests  p50 {results['report']['p50_ms']:7.1f} ms  "
          f"p95 {results['report']['p95_ms']:7.1f} ms  {size / 1024:.1f} KiB")
    dump(args.out, results)


def _bench_pages():
    """(name, path) of the pages cmd_pages measures, and the clinician they are fetched as."""
    from django.contrib.auth.models import User
    from django.db.models import Count, Q

    from patients.models import Patient

    clinician = User.objects.get(username=CLINICIAN)
    site_id = clinician.memberships.get().site_id
    patient = (Patient.objects.filter(site_id=site_id, locked_at__isnull=True)
               .annotate(n=Count("cycles", distinct=True), on=Count("pk", filter=Q(status="on_study")))
               .order_by("-on", "-n", "pk").first())
    return clinician, [("healthz", "/healthz/"), ("patient list", "/patients/"),
                       ("timeline", f"/patients/{patient.pk}/timeline/"),
                       ("cycle form", f"/patients/{patient.pk}/cycles/new/")]


def cmd_profile_pages(args):
    """Where a page's time goes, without a server: Django's test client in this process (the
    whole middleware stack, the same settings as the server), as the bench clinician. Per page:
    CPU milliseconds per request (median of --requests, interleaved with the other pages so load
    hits all alike), the queries, and cProfile's top functions by own time."""
    setup()
    import cProfile
    import io
    import pstats

    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    clinician, pages = _bench_pages()
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(clinician)
    only = {x.strip() for x in args.pages.split(",")} if args.pages else None
    pages = [(n, p) for n, p in pages if not only or n in only or n == "healthz"]
    times = {name: [] for name, _ in pages}
    for name, path in pages:  # warm up, and check
        r = client.get(path)
        if r.status_code != 200:
            raise SystemExit(f"{path}: HTTP {r.status_code}")
    for _ in range(args.requests):
        for name, path in pages:
            t0 = time.process_time()
            client.get(path)
            times[name].append(1000 * (time.process_time() - t0))
    base = sorted(times["healthz"])[len(times["healthz"]) // 2]
    for name, path in pages:
        ms = sorted(times[name])[len(times[name]) // 2]
        with CaptureQueriesContext(connection) as queries:
            client.get(path)
        print(f"== {name} ({path}): {ms:.2f} ms CPU per request (median of {args.requests}); "
              f"bare view {base:.2f} ms; {len(queries)} queries")
        for q in sorted(queries.captured_queries, key=lambda q: -float(q["time"]))[:args.slowest]:
            print(f"   {1000 * float(q['time']):6.2f} ms  {q['sql'][:args.sql_width]}")
        if name == "healthz" or not args.top:
            continue
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(20):
            client.get(path)
        profile.disable()
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats(args.sort).print_stats(args.top)
        print("\n".join(line for line in out.getvalue().splitlines()[6:] if line.strip()))
    reset_queries()


def cmd_profile_export(args):
    """Where an export's time goes: the export drained once in this process under cProfile,
    then the queries it ran (slowest first; DEBUG cursor wrapper)."""
    setup()
    import cProfile
    import io
    import pstats

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from exchange.services import export_cohort

    profile = cProfile.Profile()
    with CaptureQueriesContext(connection) as queries:
        t0, c0 = time.perf_counter(), time.process_time()
        profile.enable()
        log, _fmt, chunks = export_cohort(format_name=args.format, channel="cli")
        size = sum(len(c) for c in chunks)
        profile.disable()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"== {args.format}: {sum(log.row_counts.values())} rows, {size / 2**20:.1f} MB in {wall:.2f} s "
          f"(CPU {cpu:.2f} s, profiled); {len(queries)} queries, "
          f"{sum(float(q['time']) for q in queries.captured_queries):.2f} s in the database cursor")
    for q in sorted(queries.captured_queries, key=lambda q: -float(q["time"]))[:args.slowest]:
        print(f"   {1000 * float(q['time']):8.1f} ms  {q['sql'][:args.sql_width]}")
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats(args.sort).print_stats(args.top)
    print("\n".join(line for line in out.getvalue().splitlines()[6:] if line.strip()))
# --- background exports ------------------------------------------------------------

def cmd_job_overhead(args):
    """Issue 15: the job path's overhead. The same export of the same cohort, by the same
    user, (a) streamed to a null sink as the download view streams it, (b) run as a
    background job: ``export_job_start`` (row counts, JobFile, enqueue) then one worker
    cycle (``run_pending``: the job claims it, counts rows as the writer pulls them,
    writes progress, spools the file with its SHA-256 and saves it through the storage
    API; MEDIA_ROOT a temporary directory). Alternated, best of --repeat each."""
    import shutil
    import tempfile

    media = tempfile.mkdtemp(prefix="bench-media-")
    os.environ["MEDIA_ROOT"] = media
    setup()
    from django.contrib.auth.models import User

    from exchange.services import export_cohort, export_job_start
    from jobs.models import JobFile, JobFileStatus
    from jobs.worker import run_pending

    user = User.objects.get(username=COORDINATOR)
    results = {}
    try:
        for name in args.formats.split(","):
            streamed, job = [], []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                log, _fmt, chunks = export_cohort(format_name=name, user=user)
                size = 0
                with open(os.devnull, "wb") as sink:
                    for chunk in chunks:
                        sink.write(chunk)
                        size += len(chunk)
                streamed.append(time.perf_counter() - t0)

                t0 = time.perf_counter()
                job_file = export_job_start(user=user, format_name=name)
                ran = run_pending(queue_names=("exports",))
                job.append(time.perf_counter() - t0)
                job_file = JobFile.objects.get(pk=job_file.pk)
                if ran != 1 or job_file.status != JobFileStatus.DONE:
                    raise RuntimeError(f"{name}: the job did not finish ({ran} ran, {job_file.status}: "
                                       f"{job_file.error})")
                progress_ok = job_file.done == job_file.total == sum(log.row_counts.values())
                stored = job_file.size
            results[name] = {"streamed_seconds": min(streamed), "streamed_runs": streamed,
                             "job_seconds": min(job), "job_runs": job, "ratio": min(job) / min(streamed),
                             "rows": sum(log.row_counts.values()), "bytes": size, "stored_bytes": stored,
                             "progress_counted_every_row": progress_ok}
            r = results[name]
            print(f"  {name:5} streamed {r['streamed_seconds']:6.2f} s, job {r['job_seconds']:6.2f} s: "
                  f"ratio {r['ratio']:.3f} ({r['rows']} rows, {size / 2**20:.1f} MB)")
    finally:
        shutil.rmtree(media, ignore_errors=True)
    dump(args.out, {"formats": results})


def job_overhead_main(argv):
    parser = argparse.ArgumentParser(prog="bench.py job-overhead")
    parser.add_argument("--out", required=True)
    parser.add_argument("--formats", default=os.environ.get("BENCH_JOB_FORMATS", "csv,xlsx"))
    parser.add_argument("--repeat", type=int, default=int(os.environ.get("BENCH_JOB_REPEAT", "2")))
    cmd_job_overhead(parser.parse_args(argv))


#: The job path may cost this much more than the streamed download (bench/NOTES.md).
JOB_OVERHEAD_TARGET = 1.1


# --- summary ---------------------------------------------------------------------

def _load(tmp, name):
    path = Path(tmp) / name
    return json.loads(path.read_text()) if path.exists() else None


def _machine():
    ram = next((int(x.split()[1]) for x in Path("/proc/meminfo").read_text().splitlines()
                if x.startswith("MemTotal:")), 0)
    cpu = next((x.split(":", 1)[1].strip() for x in Path("/proc/cpuinfo").read_text().splitlines()
                if x.startswith("model name")), platform.machine())
    try:
        pg = subprocess.run(["psql", "-Atc", "SHOW server_version", "-d", "postgres"], capture_output=True,
                            text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pg = "?"
    load = os.getloadavg()
    return {"nproc": os.cpu_count(), "cpu": cpu, "ram_gb": round(ram / 2**20, 1),
            "python": platform.python_version(), "postgresql": pg or "?",
            "load": f"{load[0]:.1f} {load[1]:.1f} {load[2]:.1f}"}


def cmd_summary(args):
    tmp = args.tmp
    rows = []  # (measure, figure, target, PASS/MISS/-)

    def add(measure, figure, target=None, ok=None):
        rows.append((measure, figure, target or "", "" if ok is None else ("PASS" if ok else "MISS")))

    pages = _load(tmp, "pages.json")
    if pages:
        p = pages["pages"]
        base = (p["healthz"]["rps"] + p.get("healthz (again)", p["healthz"])["rps"]) / 2
        add("/healthz/ (bare view), req/s", f"{base:.0f} (runs {p['healthz']['rps']:.0f}, "
            f"{p.get('healthz (again)', p['healthz'])['rps']:.0f})")
        for name, target in (("patient list", 0.5), ("timeline", 0.5), ("cycle form", 0.25)):
            r = p[name]
            ratio = r["rps"] / base
            add(f"{name} ({r['path']}) / healthz", f"{ratio:.3f} ({r['rps']:.0f} req/s, p95 {r['p95_ms']:.0f} ms)",
                f">= {target}", ratio >= target and not r["status_errors"])
        rep = pages["report"]
        add(f"report /reports/ p95, 1 user ({rep['requests']} requests)",
            f"{rep['p95_ms']:.0f} ms (p50 {rep['p50_ms']:.0f} ms)", "< 1000 ms", rep["p95_ms"] < 1000)
    report = _load(tmp, "report.json")
    if report:
        add(f"report aggregates: outcome_report / one SQL query ({report['patients']} patients)",
            f"{report['ratio']:.2f} ({report['app_seconds'] * 1000:.0f} ms / {report['sql_seconds'] * 1000:.0f} ms)",
            "<= 2", report["ratio"] <= 2)
    exports = _load(tmp, "exports.json")
    if exports:
        add("CSV export rows/s / COPY rows/s",
            f"{exports['ratio']:.2f} ({exports['csv_rows_per_s']:.0f} / {exports['copy_rows_per_s']:.0f}; "
            f"{exports['csv_rows']} rows in {exports['csv_seconds']:.2f} s vs {exports['copy_seconds']:.2f} s)",
            ">= 0.5", exports["ratio"] >= 0.5)
    small, big = _load(tmp, "memory-small.json"), _load(tmp, "memory-big.json")
    big_patients = (_load(tmp, "cohort-big.json") or {}).get("patients_patient", "?")
    if big:
        for name, r in big["exports"].items():
            if "error" in r:
                add(f"{name.upper()} export rows/s", "error: " + r["error"].strip().splitlines()[-1][:80])
                continue
            target = EXPORT_TARGET_SECONDS.get(name, EXPORT_TARGET_SECONDS["*"])
            add(f"{name.upper()} export at {big_patients} patients, seconds (fresh process)",
                f"{r['seconds']:.1f} ({r['rows']} rows, {r['rows_per_s']:.0f} rows/s, {r['bytes'] / 2**20:.1f} MB)",
                f"< {target} s", r["seconds"] < target)
    if small and big:
        for name in big["exports"]:
            s, b = small["exports"].get(name, {}), big["exports"][name]
            if "error" in s or "error" in b or not s:
                add(f"{name.upper()} export peak RSS growth 10k / 1k", "not measured", "<= 1.2", False)
                continue
            ratio = b["growth_mb"] / max(s["growth_mb"], 1.0)  # below 1 MB growth is noise
            add(f"{name.upper()} export peak RSS growth 10k / 1k",
                f"{ratio:.2f} ({b['growth_mb']:.1f} MB / {s['growth_mb']:.1f} MB)", "<= 1.2", ratio <= 1.2)

    jobs = _load(tmp, "job-overhead.json")
    if jobs:
        for name, r in jobs["formats"].items():
            add(f"{name.upper()} export as a background job / streamed",
                f"{r['ratio']:.3f} ({r['job_seconds']:.2f} s / {r['streamed_seconds']:.2f} s, {r['rows']} rows"
                f"{'' if r['progress_counted_every_row'] else '; progress short of the total'})",
                f"<= {JOB_OVERHEAD_TARGET}", r["ratio"] <= JOB_OVERHEAD_TARGET and r["progress_counted_every_row"])

    cohort = _load(tmp, "cohort-big.json") or {}
    machine = _machine()
    width = max(len(r[0]) for r in rows) if rows else 10
    fwidth = max(len(r[1]) for r in rows) if rows else 10
    lines = [f"{'measure':<{width}}  {'figure':<{fwidth}}  {'target':<10}  result"]
    lines += [f"{m:<{width}}  {f:<{fwidth}}  {t:<10}  {ok}" for m, f, t, ok in rows]
    print("\n".join(lines))
    misses = sum(r[3] == "MISS" for r in rows)
    print(f"== {sum(r[3] == 'PASS' for r in rows)} PASS, {misses} MISS")

    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    gens = [g for g in (_load(tmp, f) for f in sorted(os.listdir(tmp)) if f.startswith("generate-")) if g]
    md = [
        "# Benchmarks (`make bench`)", "",
        f"Run {now} on {machine['nproc']} CPUs ({machine['cpu']}), {machine['ram_gb']} GB RAM, "
        f"Python {machine['python']}, PostgreSQL {machine['postgresql']}; load average at the end "
        f"{machine['load']}.", "",
        "Cohort: " + ", ".join(f"{k.split('_', 1)[1]} {v}" for k, v in cohort.items() if k != "database_mb")
        + (f"; database {cohort.get('database_mb')} MB." if cohort else "."),
    ]
    if gens:
        md.append("Generation: " + "; ".join(f"{g['patients']} patients in {g['seconds']} s" for g in gens) + ".")
    if pages:
        md.append(f"Pages: gunicorn 2 sync workers, DEBUG off, CONN_MAX_AGE {pages.get('conn_max_age')}, wrk -t{pages['threads']} -c{pages['connections']} "
                  f"-d{pages['duration_s']}s with the session cookie of a clinician of the largest site "
                  f"({pages['patients_at_site']} patients; timeline and form of {pages['patient']}, "
                  f"{pages['patient_cycles']} cycles); the same cookie is sent to /healthz/. "
                  "The report is fetched by one coordinator (all sites), one request at a time.")
    md += ["", "| measure | figure | target | result |", "| --- | --- | --- | --- |"]
    md += [f"| {m} | {f} | {t} | {ok} |" for m, f, t, ok in rows]
    md += ["", f"{sum(r[3] == 'PASS' for r in rows)} PASS, {misses} MISS.", ""]
    notes = BENCH / "NOTES.md"
    if notes.exists():
        md += [notes.read_text().rstrip(), ""]
    Path(args.results).write_text("\n".join(md))
    print(f"== wrote {args.results}")


def main():
    if sys.argv[1:2] == ["job-overhead"]:  # issue 15 (its own parser: an additive edit)
        return job_overhead_main(sys.argv[2:])
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("users")
    for name in ("cohort", "exports", "report"):
        p = sub.add_parser(name)
        p.add_argument("--out", required=True)
        if name in ("exports", "report"):
            p.add_argument("--repeat", type=int, default=int(os.environ.get("BENCH_REPEAT", "3")))
    p = sub.add_parser("export-one")
    p.add_argument("--format", required=True)
    p = sub.add_parser("memory")
    p.add_argument("--label", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--formats", default=os.environ.get("BENCH_FORMATS", ",".join(FORMATS)))
    p = sub.add_parser("pages")
    p.add_argument("--base", required=True)
    p.add_argument("--out", required=True)
    p = sub.add_parser("profile-pages")
    p.add_argument("--requests", type=int, default=30)
    p.add_argument("--top", type=int, default=15)
    p.add_argument("--sort", default="tottime")
    p.add_argument("--slowest", type=int, default=5, help="the page's N slowest queries")
    p.add_argument("--sql-width", type=int, default=160)
    p.add_argument("--pages", default="", help="comma-separated names (default: all)")
    p = sub.add_parser("profile-export")
    p.add_argument("--format", required=True)
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--sort", default="tottime")
    p.add_argument("--slowest", type=int, default=8, help="the export's N slowest queries")
    p.add_argument("--sql-width", type=int, default=160)
    p = sub.add_parser("summary")
    p.add_argument("--tmp", required=True)
    p.add_argument("--results", required=True)
    args = parser.parse_args()
    {"users": cmd_users, "cohort": cmd_cohort, "export-one": cmd_export_one, "memory": cmd_memory,
     "exports": cmd_exports, "report": cmd_report, "pages": cmd_pages,
     "profile-pages": cmd_profile_pages, "profile-export": cmd_profile_export,
     "summary": cmd_summary}[args.command.replace("_", "-")](args)


if __name__ == "__main__":
    main()
