"""A hotel chain's data for the scale benchmarks: 1,000 doors over 10 sites, and stays by the
thousand.

Each site has 100 doors: 2 shared entrances and 98 unit doors, each unit opened by its own door
and one of the entrances (so a stay has 2 codes). What a page shows is the same at every size:
the *current* stays (``CURRENT`` of them, from a few days ago to a month ahead, some in house
now, arriving today, cancelled with their codes in the ledger) are made once; the sizes then
grow by *history*, stays that ended before today (with some cancelled and acknowledged), the
way a year of business grows a database. ``grow(to)`` adds history up to ``to`` stays in
one INSERT ... SELECT per table, so 100,000 stays and 200,000 codes take seconds.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import connection

from bench.scenarios import settle
from codes.models import AccessCode
from locks.models import Lock
from properties.models import Reservation, Site, Unit, UnitDoor
from simulator import demo

SITES = 10
DOORS_PER_SITE = 100
ENTRANCES_PER_SITE = 2
CURRENT = 1000
ZONES = ("Europe/Lisbon", "Europe/Berlin", "America/New_York", "America/Los_Angeles", "Australia/Sydney")


@dataclass
class Chain:
    sites: list[Site]
    locks: list[Lock]
    units: list[Unit]
    user: User
    reservations: int = 0


def build(*, today: date | None = None) -> Chain:
    """The sites, doors and units, a staff user on every site, and the ``CURRENT`` stays."""
    today = today or datetime.now(UTC).date()
    slots = demo.bench_devices(1)[0]["properties"]["dormakaba_oracode_metadata"]["predefined_time_slots"]
    sites = Site.objects.bulk_create(
        Site(name=f"Chain hotel {n:02d}", timezone=ZONES[n % len(ZONES)], guest_email_policy="staff")
        for n in range(SITES)
    )
    locks = Lock.objects.bulk_create(
        Lock(
            site=site,
            seam_device_id=f"chain-{s}-{d}",
            name=f"{'Entrance' if d < ENTRANCES_PER_SITE else 'Room'} {s:02d}-{d:03d}",
            timezone=site.timezone,
            time_slots=slots,
            can_program_offline_access_codes=True,
            code_capacity=500,
        )
        for s, site in enumerate(sites)
        for d in range(DOORS_PER_SITE)
    )
    units = Unit.objects.bulk_create(
        Unit(site=site, name=f"Room {s:02d}-{d:03d}")
        for s, site in enumerate(sites)
        for d in range(ENTRANCES_PER_SITE, DOORS_PER_SITE)
    )
    doors = []
    for unit in units:
        s, d = (int(part) for part in unit.name.split()[1].split("-"))
        base = s * DOORS_PER_SITE
        doors.append(UnitDoor(unit=unit, lock=locks[base + d % ENTRANCES_PER_SITE], position=0))
        doors.append(UnitDoor(unit=unit, lock=locks[base + d], position=1))
    UnitDoor.objects.bulk_create(doors)
    user = get_user_model().objects.create_user("chain", password="chain-password-123", is_staff=True)
    for site in sites:
        site.staff.add(user)
    chain = Chain(sites=sites, locks=locks, units=units, user=user)
    _insert(chain, first=0, count=CURRENT, today=today, history=False)
    chain.reservations = CURRENT
    return chain


def grow(chain: Chain, to: int, *, today: date | None = None) -> None:
    """History (stays over before today) until the chain has ``to`` stays."""
    today = today or datetime.now(UTC).date()
    if to > chain.reservations:
        _insert(chain, first=chain.reservations, count=to - chain.reservations, today=today, history=True)
        chain.reservations = to
    settle()


def _insert(chain: Chain, *, first: int, count: int, today: date, history: bool) -> None:
    """Stays ``first`` to ``first + count`` (g in SQL), each on unit ``g % units`` with a code
    on each of its two doors, in one INSERT ... SELECT per table.

    Current stays arrive from 3 days ago to 27 days ahead (in house, arriving today, upcoming);
    one in 25 is cancelled and its codes are in the ledger. History stays are 3 nights each,
    going back from a week ago; one in 50 was cancelled, its ledger codes acknowledged."""
    units = len(chain.units)
    unit_ids = [unit.pk for unit in chain.units]
    site_ids = [unit.site_id for unit in chain.units]
    if history:
        arrival = f"%(today)s::date - 7 - 3 * ((g - {CURRENT}) / {units})"
        cancelled = "g %% 50 = 0"
    else:
        arrival = f"%(today)s::date - 3 + (g / {units}) * 3 + g %% 30"
        cancelled = "g %% 25 = 0"
    reservations = Reservation._meta.db_table
    after = Reservation.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    params: dict[str, Any] = {"today": today, "first": first, "last": first + count - 1}
    params.update(units=unit_ids, sites=site_ids)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {reservations} (site_id, unit_id, guest_name, guest_email, language, source, "  # noqa: S608
            "external_id, attention, arrival, departure, request_key, cancelled_at, created_at) "
            f"SELECT (%(sites)s::bigint[])[g %% {units} + 1], (%(units)s::bigint[])[g %% {units} + 1], "
            "'Guest ' || g, 'guest' || g || '@example.com', '', 'api', 'chain-' || g, '', "
            f"{arrival}, {arrival} + 3, '', CASE WHEN {cancelled} THEN now() END, "
            "now() - (1000000 - g) * interval '1 second' "
            "FROM generate_series(%(first)s, %(last)s) AS g",
            params,
        )
    _insert_codes(after=after, history=history)


def _insert_codes(*, after: int, history: bool) -> None:
    """Two codes per stay inserted after id ``after`` (entrance and unit door), on the site's check-in and
    check-out hours (15:00 to 11:00 UTC: the window's place in the day does not matter here).
    Current: set, a few waiting or failed; a cancelled stay's codes in the ledger, open.
    History: set; a cancelled stay's codes ended and acknowledged."""
    reservations = Reservation._meta.db_table
    codes = AccessCode._meta.db_table
    if history:
        status = "'set'"
        ledger = "CASE WHEN r.cancelled_at IS NOT NULL THEN 'cancelled' ELSE '' END"
        acknowledged = "CASE WHEN r.cancelled_at IS NOT NULL THEN now() END"
    else:
        status = "CASE WHEN n %% 20 = 0 THEN 'failed' WHEN n %% 20 < 3 THEN 'waiting' ELSE 'set' END"
        ledger = "CASE WHEN r.cancelled_at IS NOT NULL AND n %% 20 <> 0 THEN 'cancelled' ELSE '' END"
        acknowledged = "NULL::timestamptz"
    starts = "(r.arrival + time '15:00') AT TIME ZONE 'UTC'"
    ends = "(r.departure + time '11:00') AT TIME ZONE 'UTC'"
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {codes} (reservation_id, lock_id, name, slot_name, user_level_id, starts_at, ends_at, "  # noqa: S608
            "timezone, max_time_rounding, status, seam_access_code_id, seam_status, code, errors, warnings, "
            "last_error_type, last_error_message, seam_window_mismatch, pending_mutations, attempts, checks, "
            "create_sent, next_check_at, set_at, escalation, ledger_reason, ledger_at, acknowledged_at, "
            "created_at, updated_at) "
            f"SELECT r.id, d.lock_id, 'chain-' || r.id || '-' || d.lock_id, '', '', {starts}, {ends}, "
            f"'UTC', '1h', {status}, "
            f"CASE WHEN {status} = 'failed' THEN '' ELSE 'chain-' || r.id || '-' || d.lock_id END, '', "
            f"CASE WHEN {status} = 'set' THEN lpad(((r.id * 7919 + d.lock_id) %% 1000000)::text, 6, '0') "
            "ELSE '' END, "
            "'[]', '[]', "
            f"CASE WHEN {status} = 'failed' THEN 'dormakaba_oracode_invalid_time_range' ELSE '' END, '', '', '[]', "
            f"1, 1, false, CASE WHEN {status} = 'waiting' THEN {starts} - interval '2 hours' END, "
            f"CASE WHEN {status} = 'set' THEN r.created_at END, '', {ledger}, "
            f"CASE WHEN {ledger} <> '' THEN r.cancelled_at END, {acknowledged}, r.created_at, r.created_at "
            f"FROM (SELECT x.*, x.id %% 1000 AS n FROM {reservations} x WHERE x.id > %(after)s) r "
            f"JOIN {UnitDoor._meta.db_table} d ON d.unit_id = r.unit_id",
            {"after": after},
        )
