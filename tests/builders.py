"""Plain builder functions for test data."""

from datetime import date, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.utils import timezone

from codes.models import AccessCode
from codes.services import access_code_create, access_code_refresh, access_codes_due
from codes.windows import offer_windows
from locks.models import Lock
from locks.seam import SeamClient
from properties.models import Reservation, Site
from properties.services import reservation_create

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


def make_reservation(lock: Lock, *, arrival: date | None = None, nights: int = 3, **kw: Any) -> Reservation:
    arrival = arrival or date(2030, 9, 10)
    return Reservation.objects.create(
        site=lock.site,
        lock=lock,
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


def book_stay(lock: Lock, *, arrival: date, nights: int = 3, slot_name: str = "Guest 15:00-11:00") -> AccessCode:
    """Reserve ``lock`` through the real service with the offered window of ``slot_name``."""
    departure = arrival + timedelta(days=nights)
    window = next(
        w for w in offer_windows(lock.time_slots, arrival=arrival, departure=departure) if w.slot_name == slot_name
    )
    _, code = reservation_create(
        site=lock.site,
        lock=lock,
        guest_name="Ana Souza",
        guest_email="ana@example.com",
        arrival=arrival,
        departure=departure,
        window=window,
    )
    return code


def run_due(client: SeamClient) -> list[tuple[int, str]]:
    """One beat of the sweeper, its work run at once as the workers would; returns the work."""
    work = access_codes_due(now=timezone.now())
    for pk, kind in work:
        if kind == "create":
            access_code_create(access_code_id=pk, client=client)
        else:
            access_code_refresh(access_code_id=pk, client=client)
    return work
