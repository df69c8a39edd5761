"""The embedded default (SQLite, `make run`'s runserver) under several people at once.

Four people booking at the same moment, and two tabs changing one stay's dates, against a real
development server on a real SQLite file: every request is answered (a booking saved, a losing
change refused with a message), never with "database is locked".
"""

import html
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "pw-for-tests-only"
# Within the booking horizon of the server's defaults.
FIRST_ARRIVAL = datetime.now(UTC).date() + timedelta(days=30)

SEED = """
import django
django.setup()
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from properties.models import Site
from locks.models import Lock
from properties.models import Unit, UnitDoor
from tests.builders import LA_SLOTS
site = Site.objects.create(name="Ocean", timezone="America/Los_Angeles")
lock = Lock.objects.create(site=site, name="Room 101", seam_device_id="dev-1", timezone=site.timezone,
                           time_slots=LA_SLOTS, can_program_offline_access_codes=True)
# One hash with the app's own hasher, shared: each costs a second or more.
password = make_password(%r)
for name in ("ana", "ben", "cho", "dev"):
    user = get_user_model().objects.create_user(username=name, password=None)
    user.password = password
    user.save(update_fields=["password"])
    user.sites.add(site)
unit = Unit.objects.create(site=site, name="Room 101")
UnitDoor.objects.create(unit=unit, lock=lock)
print(site.pk, unit.pk, lock.pk)
"""

COUNT = """
import django
django.setup()
from properties.models import Reservation
from codes.models import AccessCode
print(Reservation.objects.count(), AccessCode.objects.count())
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _python(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True
    )
    return result.stdout


def _environment(var_dir: Path) -> dict[str, str]:
    """The embedded defaults, their state under ``var_dir``: no other settings."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_DEBUG": "1",
        "VAR_DIR": str(var_dir),
        "PYTHONPATH": str(ROOT),
    }


@pytest.fixture(scope="module")
def seeded_database(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, tuple[int, int, int]]:
    """A SQLite file migrated and seeded once (site, door, unit, four staff) by the app's own
    commands, for each test to copy; and the (site, unit, door) ids."""
    var_dir = tmp_path_factory.mktemp("sqlite-seeded")
    env = _environment(var_dir)
    _python(env, "manage.py", "migrate", "--noinput")
    site_id, unit_id, lock_id = map(int, _python(env, "-c", SEED % PASSWORD).split())
    return var_dir / "db.sqlite3", (site_id, unit_id, lock_id)


@pytest.fixture
def sqlite_server(
    tmp_path: Path, seeded_database: tuple[Path, tuple[int, int, int]]
) -> Iterator[tuple[str, int, tuple[int, int], dict[str, str]]]:
    """`manage.py runserver` on a fresh copy of the seeded SQLite file with no other settings;
    (url, site, (unit, door), env)."""
    database, (site_id, unit_id, lock_id) = seeded_database
    # The seeding process closed the database, which folds SQLite's WAL into the file: the file
    # alone is the whole database, and each test gets its own copy.
    assert not database.with_name(database.name + "-wal").exists()
    shutil.copyfile(database, tmp_path / database.name)
    env = _environment(tmp_path)
    port = _free_port()
    log = (tmp_path / "runserver.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{url}/login/", timeout=2)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.2)
        yield url, site_id, (unit_id, lock_id), env
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


def _logged_in(url: str, username: str) -> requests.Session:
    session = requests.Session()
    session.get(f"{url}/login/", timeout=10)
    response = session.post(
        f"{url}/login/",
        data={"username": username, "password": PASSWORD, "csrfmiddlewaretoken": session.cookies["csrftoken"]},
        headers={"Referer": f"{url}/login/"},
        timeout=10,
    )
    assert response.url.rstrip("/") == url, "the login did not go through"
    return session


def _first_choice(page: str, name: str) -> str:
    match = re.search(rf'name="{name}"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="{name}"', page)
    assert match, f"no {name} offered"
    return html.unescape(match.group(1) or match.group(2))


def test_four_people_booking_at_once_all_get_their_booking(sqlite_server):
    url, site_id, (unit_id, lock_id), env = sqlite_server
    people = ["ana", "ben", "cho", "dev"]
    bookings_each = 3
    start = threading.Barrier(len(people))
    statuses: list[int] = []

    def book(username: str, offset: int) -> None:
        session = _logged_in(url, username)
        plans = []
        for i in range(bookings_each):
            arrival = FIRST_ARRIVAL + timedelta(days=7 * (offset * bookings_each + i))
            stay = {"site": site_id, "unit": unit_id, "arrival": arrival, "departure": arrival + timedelta(days=3)}
            page = session.get(f"{url}/reservations/new/choices/", params=stay, timeout=30).text
            plans.append({**stay, f"plan_{lock_id}": _first_choice(page, f"plan_{lock_id}")})
        start.wait()
        for plan in plans:
            response = session.post(
                f"{url}/reservations/new/",
                data={
                    **plan,
                    "guest_name": f"Guest of {username}",
                    "guest_email": "guest@example.com",
                    "csrfmiddlewaretoken": session.cookies["csrftoken"],
                },
                headers={"Referer": f"{url}/reservations/new/"},
                allow_redirects=False,
                timeout=60,
            )
            statuses.append(response.status_code)

    threads = [threading.Thread(target=book, args=(name, i)) for i, name in enumerate(people)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert statuses == [302] * len(people) * bookings_each
    reservations, codes = map(int, _python(env, "-c", COUNT).split())
    assert (reservations, codes) == (12, 12)


def test_two_tabs_changing_one_stay_one_wins_and_the_other_is_told(sqlite_server):
    url, site_id, (unit_id, lock_id), env = sqlite_server
    session = _logged_in(url, "ana")
    arrival = FIRST_ARRIVAL
    stay = {"site": site_id, "unit": unit_id, "arrival": arrival, "departure": arrival + timedelta(days=3)}
    page = session.get(f"{url}/reservations/new/choices/", params=stay, timeout=30).text
    booked = session.post(
        f"{url}/reservations/new/",
        data={
            **stay,
            f"plan_{lock_id}": _first_choice(page, f"plan_{lock_id}"),
            "guest_name": "Ana",
            "guest_email": "ana@example.com",
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        },
        headers={"Referer": f"{url}/reservations/new/"},
        timeout=60,
    )
    assert booked.status_code == 200
    listed = session.get(f"{url}/reservations/", timeout=30).text
    reservation_id = re.search(r"/reservations/(\d+)/", listed)
    assert reservation_id, "the booking's page link is missing"
    change_url = f"{url}/reservations/{reservation_id.group(1)}/change/"
    new_dates = {"arrival": arrival.isoformat(), "departure": (arrival + timedelta(days=5)).isoformat()}
    key = _first_choice(session.get(change_url, params=new_dates, timeout=30).text, f"plan_{lock_id}")
    tabs = [_logged_in(url, "ana"), _logged_in(url, "ana")]
    start = threading.Barrier(len(tabs))
    responses: list[requests.Response] = []

    def change(tab: requests.Session) -> None:
        start.wait()
        responses.append(
            tab.post(
                change_url,
                data={**new_dates, f"plan_{lock_id}": key, "csrfmiddlewaretoken": tab.cookies["csrftoken"]},
                headers={"Referer": change_url},
                allow_redirects=False,
                timeout=60,
            )
        )

    threads = [threading.Thread(target=change, args=(tab,)) for tab in tabs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert sorted(r.status_code for r in responses) == [200, 302]
    loser = next(r for r in responses if r.status_code == 200)
    assert "These are the stay" in loser.text or "no longer offered" in loser.text
    _, codes = map(int, _python(env, "-c", COUNT).split())
    assert codes == 2
