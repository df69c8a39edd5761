"""`make bench`: speed and query targets, measured outside the test suite.

Builds a throwaway SQLite database under a temporary VAR_DIR, fills it with thousands of
reservations and codes, and measures the pages staff use all day and the window helper.
Exits non-zero when a target is missed.
"""

import os
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_DEBUG", "1")
os.environ["VAR_DIR"] = tempfile.mkdtemp(prefix="oracode-bench-")
os.environ.pop("DATABASE_URL", None)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ["DJANGO_ALLOWED_HOSTS"] = "testserver"
os.environ["LOG_LEVEL"] = "WARNING"

import django

django.setup()

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from codes.models import AccessCode
from codes.windows import offer_windows
from locks.models import Lock
from locks.simulator.demo import demo_devices
from properties.models import Reservation, Site

RESERVATIONS = 5000
TARGETS = {"list_page_ms": 400.0, "list_page_queries": 12, "dashboard_ms": 600.0, "offer_windows_us": 2000.0}


def build() -> Client:
    call_command("migrate", verbosity=0)
    site = Site.objects.create(name="Ocean Beach Vacations", timezone="America/Los_Angeles")
    device = next(d for d in demo_devices() if d["display_name"] == "Room 101")
    slots = device["properties"]["dormakaba_oracode_metadata"]["predefined_time_slots"]
    lock = Lock.objects.create(site=site, seam_device_id="bench", name="Room 101", time_slots=slots)
    start = datetime(2031, 1, 1, 23, tzinfo=UTC)
    reservations = Reservation.objects.bulk_create(
        Reservation(
            site=site,
            lock=lock,
            guest_name=f"Guest {i}",
            guest_email=f"guest{i}@example.com",
            arrival=date(2031, 1, 1) + timedelta(days=i % 365),
            departure=date(2031, 1, 4) + timedelta(days=i % 365),
        )
        for i in range(RESERVATIONS)
    )
    AccessCode.objects.bulk_create(
        AccessCode(
            reservation=r,
            lock=lock,
            name=f"R{r.pk}",
            starts_at=start + timedelta(days=i % 365),
            ends_at=start + timedelta(days=i % 365 + 3),
            timezone="America/Los_Angeles",
            status=AccessCode.Status.SET,
            code="123456",
            seam_access_code_id=f"seam-{r.pk}",
        )
        for i, r in enumerate(reservations)
    )
    user = get_user_model().objects.create_user("bench", password="bench-password-123")
    site.staff.add(user)
    client = Client()
    client.force_login(user)
    return client


def timed(client: Client, url: str, runs: int = 10) -> tuple[float, int]:
    client.get(url)
    # The log is a bounded deque: once full (migrations fill it), counts by index read 0.
    connection.queries_log.clear()
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, response.status_code
    began = time.perf_counter()
    for _ in range(runs):
        assert client.get(url).status_code == 200
    return (time.perf_counter() - began) / runs * 1000, len(queries)


def main() -> int:
    client = build()
    results: dict[str, float] = {}
    results["list_page_ms"], results["list_page_queries"] = timed(client, "/reservations/?page=50")
    results["dashboard_ms"], _ = timed(client, "/")
    slots = Lock.objects.get().time_slots
    began = time.perf_counter()
    runs = 2000
    for i in range(runs):
        arrival = date(2031, 1, 1) + timedelta(days=i % 300)
        offer_windows(
            slots, arrival=arrival, departure=arrival + timedelta(days=3), now=datetime(2030, 1, 1, tzinfo=UTC)
        )
    results["offer_windows_us"] = (time.perf_counter() - began) / runs * 1e6
    failed = False
    for name, value in results.items():
        ok = value <= TARGETS[name]
        failed |= not ok
        print(f"{name:20} {value:10.1f}   target <= {TARGETS[name]:g}   {'ok' if ok else 'MISSED'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
