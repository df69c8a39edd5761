"""`make bench`: what the app promises, measured on real parts, outside the test suite.

PostgreSQL (a database of its own, created and dropped here), Redis (a db number of its own),
gunicorn, a Celery worker and beat, and the Seam simulator as its own process, all on
127.0.0.1 and free ports. The measurements (see docs/benchmarks.md and docs/scaling.md):

1. backfill: creates per door against Seam's per-door cap, scaled down in time;
2. calls_per_code: Seam API calls per code, with webhooks and with polling only;
3. dashboard: the reservation list and the dashboard under 20 concurrent clients (locust);
4. drill: faults at the simulator and a worker killed mid-run;
5. scale_pages: six pages over a chain of 1,000 doors at 1k, 10k and 100k stays, each size its
   own database and gunicorn, the three asked side by side (``scale.pages``);
6. scale_backfill and hosts: 200 doors x 20 codes at Seam's latency and real window, on one
   threads-pool worker and on two "hosts" (``scale.backfill``, ``scale.hosts``);
7. feeds: 1,000 unchanged calendar feeds synced (``scale.feeds``);
8. sweeper: the beat's sweep among 10k and among 1M codes (``scale.sweeper``).

Prints a table, writes ``var/bench/report.json`` and PNG plots next to it, and exits non-zero
when a goal is missed. ``python bench/run.py --only backfill,drill`` runs a subset.
"""

import argparse
import base64
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import databases, procs

OUT = ROOT / "var" / "bench"
BENCH_DB = "oracode_bench"
API_KEY = "seam_bench_key"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"oracode-benchmark-webhook-secret").decode()
SECRET_KEY = "bench-only-secret-key-" + "k" * 40
# Every scenario, in the order run (see docs/benchmarks.md and docs/scaling.md).
SCENARIOS = (
    "pages",
    "dashboard",
    "scale_pages",
    "backfill",
    "calls",
    "drill",
    "scale_backfill",
    "hosts",
    "feeds",
    "sweeper",
)


def bench_database_url() -> str:
    """The benchmark's database on DATABASE_URL's server."""
    given = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/test"
    scheme = urlsplit(given).scheme
    if scheme not in {"postgres", "postgresql", "pgsql"}:
        sys.exit(f"make bench needs PostgreSQL: DATABASE_URL is {scheme}://…")
    return databases.database_url(given, BENCH_DB)


def redis_url() -> str:
    """REDIS_URL's server with a db number of our own (11, or 12 if REDIS_URL uses 11)."""
    given = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/1"
    parts = urlsplit(given)
    db = "12" if parts.path.strip("/") == "11" else "11"
    return urlunsplit(parts._replace(path=f"/{db}"))


def main() -> int:
    parser = argparse.ArgumentParser(description="Benchmarks and fault drills")
    parser.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated subset")
    parser.add_argument(
        "--keep-database", action="store_true", help="leave oracode_bench and the chain's databases for a look"
    )
    options = parser.parse_args()
    wanted = {name.strip() for name in options.only.split(",") if name.strip()}

    db_url = bench_database_url()
    OUT.mkdir(parents=True, exist_ok=True)
    logs = OUT / "logs"
    logs.mkdir(exist_ok=True)
    for old in logs.glob("*.log"):
        old.unlink()
    var_dir = Path(tempfile.mkdtemp(prefix="oracode-bench-"))
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "DATABASE_CONN_MAX_AGE": "60",
        "REDIS_URL": redis_url(),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_SECRET_KEY": SECRET_KEY,
        "DJANGO_DEBUG": "0",
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "VAR_DIR": str(var_dir),
        "SEAM_API_KEY": API_KEY,
        "SEAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "EMAIL_URL": "consolemail://",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        "CELERY_TASK_ALWAYS_EAGER": "0",
    }
    os.environ.update(env)
    print(f"Benchmark database {BENCH_DB} on {urlsplit(db_url).hostname}, Redis {env['REDIS_URL']}", flush=True)
    databases.drop_databases(db_url, [BENCH_DB])
    databases.create_database(db_url, BENCH_DB)

    import django

    django.setup()
    from django.core.management import call_command

    from bench import scale, scale_feeds, scale_pages, scenarios

    call_command("migrate", verbosity=0)
    call_command("collectstatic", "--noinput", verbosity=0)
    web_port = procs.free_port()
    # The sweeper reads the database only: no web server when it runs alone.
    gunicorn = None
    if wanted - {"sweeper"}:
        gunicorn = procs.start_gunicorn(env=env, log_dir=logs, port=web_port, workers=scenarios.GUNICORN_WORKERS)
    context = scenarios.Context(
        env=env,
        logs=logs,
        web_url=f"http://127.0.0.1:{web_port}",
        api_key=API_KEY,
        web=gunicorn,
        keep_databases=options.keep_database,
    )
    report: dict[str, Any] = {
        "command": "make bench",
        "machine": machine(),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    began = time.monotonic()
    try:
        if "pages" in wanted or "dashboard" in wanted:
            pages, dashboard = scenarios.dashboard(context, locust="dashboard" in wanted)
            if "pages" in wanted:
                report["pages"] = pages
            # Without locust there are no latencies under load to hold to their goal.
            if "dashboard" in wanted:
                report["dashboard"] = dashboard
        if "scale_pages" in wanted:
            report.setdefault("scale", {})["pages"] = scale_pages.pages(context)
        if "backfill" in wanted:
            report["backfill"] = scenarios.backfill(context)
        if "calls" in wanted:
            report["calls_per_code"] = scenarios.calls_per_code(context)
        if "drill" in wanted:
            report["drill"] = scenarios.drill(context)
        if "scale_backfill" in wanted:
            report.setdefault("scale", {})["backfill"] = scale.backfill(context)
        if "hosts" in wanted:
            report.setdefault("scale", {})["hosts"] = scale.backfill(context, hosts=2, threads=32, name="scale-hosts")
        if "feeds" in wanted:
            report.setdefault("scale", {})["feeds"] = scale_feeds.feeds(context)
        if "sweeper" in wanted:
            report.setdefault("scale", {})["sweeper"] = scenarios.sweeper(context)
    finally:
        if gunicorn is not None:
            gunicorn.stop()
        from django.db import connections

        connections.close_all()
        if not options.keep_database:
            databases.drop_databases(db_url, [BENCH_DB])
    report["total_seconds"] = round(time.monotonic() - began, 1)
    missed = scenarios.check_goals(report)
    report["missed"] = missed
    (OUT / "report.json").write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    scenarios.plot(report, OUT)
    print(scenarios.table(report))
    print(f"\nReport: {OUT / 'report.json'}; plots: {', '.join(str(path) for path in sorted(OUT.glob('*.png')))}")
    if missed:
        print("MISSED: " + "; ".join(missed))
        return 1
    return 0


def machine() -> dict[str, Any]:
    cpu = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {"cpus": os.cpu_count(), "cpu": cpu, "python": platform.python_version(), "system": platform.platform()}


if __name__ == "__main__":
    sys.exit(main())
