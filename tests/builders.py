"""Plain builder functions for test data."""

import html
import re
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import connection
from django.utils import timezone

from codes.creating import access_code_create
from codes.following import access_code_refresh
from codes.models import AccessCode
from codes.offers import stay_offer
from codes.stays import reservation_create
from codes.sweeping import access_codes_due
from locks.models import Lock
from locks.seam import SeamClient
from properties.models import Reservation, Site, Unit, UnitDoor

LA_SLOTS: list[dict[str, Any]] = [
    {
        "name": "Guest 15:00-11:00",
        "prefix": 1,
        "is_master": False,
        "is_24_hour": False,
        "is_one_shot": False,
        "is_biweekly_mode": False,
        "check_in_time": "15:00:00[America/Los_Angeles]",
        "check_out_time": "11:00:00[America/Los_Angeles]",
        "dormakaba_oracode_user_level_id": "0c7e9a52-3f1a-4c1e-9a57-1a2b3c4d5e01",
        "dormakaba_oracode_user_level_prefix": 1,
    },
]


def make_site(name: str = "Ocean Beach Vacations", tz: str = "America/Los_Angeles", **kw: Any) -> Site:
    return Site.objects.create(name=name, timezone=tz, dormakaba_site_name=kw.pop("dormakaba_site_name", name), **kw)


def make_lock(site: Site, name: str = "Room 101", **kw: Any) -> Lock:
    defaults: dict[str, Any] = {
        "seam_device_id": f"dev-{site.pk}-{name}",
        "timezone": site.timezone,
        "time_slots": LA_SLOTS,
        "can_program_offline_access_codes": True,
    }
    defaults.update(kw)
    return Lock.objects.create(site=site, name=name, **defaults)


def make_unit(site: Site, name: str, *doors: Lock, optional: tuple[Lock, ...] = (), **kw: Any) -> Unit:
    """A unit of ``site`` whose guests walk through ``doors`` in that order."""
    unit = Unit.objects.create(site=site, name=name, **kw)
    for position, lock in enumerate(doors):
        UnitDoor.objects.create(unit=unit, lock=lock, position=position, optional=lock in optional)
    return unit


def unit_of(lock: Lock) -> Unit:
    """The unit of that one door (named after it, as the migration made them), made once."""
    unit = Unit.objects.filter(site=lock.site, name=lock.name).first()
    return unit or make_unit(lock.site, lock.name, lock)


def make_reservation(
    lock_or_unit: Lock | Unit, *, arrival: date | None = None, nights: int = 3, **kw: Any
) -> Reservation:
    """A stay (no code) in the unit, or in the one-door unit of the door."""
    unit = lock_or_unit if isinstance(lock_or_unit, Unit) else unit_of(lock_or_unit)
    arrival = arrival or date(2030, 9, 10)
    return Reservation.objects.create(
        site=unit.site,
        unit=unit,
        guest_name=kw.pop("guest_name", "Ana Souza"),
        guest_email=kw.pop("guest_email", "ana@example.com"),
        arrival=arrival,
        departure=arrival + timedelta(days=nights),
        **kw,
    )


def make_staff(username: str, *sites: Site, superuser: bool = False) -> User:
    user = get_user_model().objects.create_user(username=username, password="pw-for-tests-only", is_staff=True)
    if superuser:
        user.is_superuser = True
        user.save()
    user.sites.set(sites)
    return user


def book(
    lock_or_unit: Lock | Unit,
    *,
    arrival: date,
    nights: int = 3,
    slot_name: str | None = "Guest 15:00-11:00",
    guest_name: str = "Ana Souza",
    guest_email: str = "ana@example.com",
    plan_key: str | None = None,
    allow_overlap: bool = True,
    now: datetime | None = None,
) -> AccessCode:
    """A stay booked through the real service, in the unit (or the one-door unit of the door):
    on each door the offered plan of level ``slot_name`` where the door has it, else the
    preselected one (or ``plan_key`` for the first door); returns the first code. Overlapping
    stays are allowed unless told otherwise: tests pile codes on one door on purpose."""
    unit = lock_or_unit if isinstance(lock_or_unit, Unit) else unit_of(lock_or_unit)
    departure = arrival + timedelta(days=nights)
    offer = stay_offer(unit=unit, arrival=arrival, departure=departure, now=now)
    plan_keys = {
        door.lock.pk: next((p.key for p in door.plans if p.slot_name == slot_name), door.preselected)
        for door in offer.doors
        if door.plans
    }
    if plan_key is not None:
        plan_keys[offer.doors[0].lock.pk] = plan_key
    _, codes = reservation_create(
        unit=unit,
        guest_name=guest_name,
        guest_email=guest_email,
        arrival=arrival,
        departure=departure,
        plan_keys=plan_keys,
        allow_overlap=allow_overlap,
        now=now,
    )
    return codes[0]


def make_code(reservation: Reservation, **fields: Any) -> AccessCode:
    """A code row for ``reservation`` written directly, as if Seam had made and set it (for
    tests about pages and emails, not Seam calls): a PIN, three days from 22:00 UTC on the
    arrival date in Los Angeles time; ``fields`` override any column."""
    starts_at = datetime.combine(reservation.arrival, time(22), tzinfo=UTC)
    values: dict[str, Any] = {
        "name": f"R{reservation.pk} {reservation.guest_name}",
        "starts_at": starts_at,
        "ends_at": starts_at + timedelta(days=3),
        "timezone": "America/Los_Angeles",
        "status": AccessCode.Status.SET,
        "code": "123456",
        "seam_access_code_id": f"seam-{reservation.pk}",
    }
    values.update(fields)
    if "lock" not in values:
        values["lock"] = reservation.unit.unit_doors.order_by("position").first().lock  # type: ignore[union-attr]
    return AccessCode.objects.create(reservation=reservation, **values)


def make_history(unit: Unit, stays: int, *, before: date, cancelled_every: int = 10) -> None:
    """``stays`` stays of three nights in ``unit``, one after another, ended before ``before``,
    each with a set code on every door of the unit; one in ``cancelled_every`` was cancelled and
    its codes were in the ledger, acknowledged since. The years of business behind a page,
    written with one bulk INSERT per table, so a test can pile up thousands."""
    doors = list(unit.unit_doors.select_related("lock"))
    reservations = Reservation.objects.bulk_create(
        Reservation(
            site=unit.site,
            unit=unit,
            guest_name=f"Past guest {n}",
            guest_email=f"past{n}@example.com",
            arrival=before - timedelta(days=3 * (n + 1)),
            departure=before - timedelta(days=3 * n),
            cancelled_at=datetime.combine(before, time(), tzinfo=UTC) if n % cancelled_every == 0 else None,
        )
        for n in range(stays)
    )
    AccessCode.objects.bulk_create(
        AccessCode(
            reservation=reservation,
            lock=door.lock,
            name=f"R{reservation.pk} {door.lock.name}",
            starts_at=datetime.combine(reservation.arrival, time(22), tzinfo=UTC),
            ends_at=datetime.combine(reservation.departure, time(18), tzinfo=UTC),
            timezone=unit.site.timezone,
            status=AccessCode.Status.SET,
            code="123456",
            seam_access_code_id=f"past-{reservation.pk}-{door.lock_id}",
            ledger_reason=AccessCode.LedgerReason.CANCELLED if reservation.cancelled_at else "",
            ledger_at=reservation.cancelled_at,
            acknowledged_at=reservation.cancelled_at,
        )
        for reservation in reservations
        for door in doors
    )


def run_due(client: SeamClient) -> list[tuple[int, str]]:
    """One beat of the sweeper, its work run at once as the workers would; returns the work."""
    work = access_codes_due(now=timezone.now())
    for pk, kind in work:
        if kind == "create":
            access_code_create(access_code_id=pk, client=client)
        else:
            access_code_refresh(access_code_id=pk, client=client)
    return work


def first_choice(page: str, name: str) -> str:
    """The value of the first radio named ``name`` in a rendered page."""
    match = re.search(rf'name="{name}"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="{name}"', page)
    assert match, f"no {name} offered"
    return html.unescape(match.group(1) or match.group(2))


T = TypeVar("T")


def at_once(call: Callable[[], T], times: int = 4) -> list[T]:
    """``call`` in ``times`` threads released together (racing workers, each on its own database
    connection); returns what each returned. Raises the first exception any of them raised."""
    barrier = threading.Barrier(times)
    results: list[T] = []
    failures: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait(timeout=10)
            results.append(call())
        except BaseException as exc:
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    if failures:
        raise failures[0]
    assert len(results) == times, "a worker did not finish in time"
    return results
