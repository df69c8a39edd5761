"""``manage.py demo_data``: the demo `make run` opens on, loaded again on every run.

Users, the doors from Seam (the simulator by default), a unit for each door (Harbour View's
apartments behind their shared street door) and stays whose codes show every state the pages
show. Stays are booked through the app's own services, so their codes are real rows: the
worker creates them at the simulator and they are set within seconds. Two stories are played
to their end here, with the same services the worker and staff use: a stay cancelled after
Seam made its code (the code is in the ledger) and a stay on Cabin 7, whose time zones
disagree (its code fails before anything is sent). Each stay is booked once, under a request
key of its own, however often this runs.
"""

import time
from datetime import date, timedelta
from datetime import time as wall_time
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from codes.creating import access_code_create, access_code_request
from codes.errors import Refused
from codes.models import AccessCode
from codes.stays import reservation_cancel, reservation_create
from codes.windows import offer_windows
from locks.models import Lock
from locks.seam import SeamError, SeamTransientError
from locks.services import locks_sync
from properties.models import Reservation, Site, Unit, UnitDoor
from simulator import demo

DEMO_ADMIN = ("admin", "oracode-admin")
DEMO_STAFF = ("demo", "oracode-demo")
# Staff of one site only: shows that staff see nothing of other sites.
DEMO_OTHER_STAFF = ("harbour", "oracode-harbour")

STANDARD_CHECK_IN = wall_time(15)
STANDARD_CHECK_OUT = wall_time(11)

# (guest, email, arrives in days, nights): booked on every site, in its units in turn. One
# after the other, so a site with one unit holds them all without a double booking.
DEMO_GUESTS = [
    ("Ana Souza", "ana.souza@example.com", 3, 4),
    ("Ben Carter", "ben.carter@example.com", 7, 3),
    ("Chloé Martin", "chloe.martin@example.com", 10, 7),
]
# Cancelled once Seam holds its code: the code opens Room 101 until it ends, so it is in the ledger.
CANCELLED_GUEST = ("Dana Whitfield", "dana.whitfield@example.com", 12, 2)
# Booked on Cabin 7 before a sync found its time zones disagree (the booking form now refuses
# the door): its code fails with time_zone_mismatch before anything is sent to Seam.
MISMATCHED_GUEST = ("Erik Lund", "erik.lund@example.com", 5, 3)

# How long to wait for the cancelled stay's code to reach Seam before cancelling it.
SEAM_CREATE_WAIT_SECONDS = 20.0


class Command(BaseCommand):
    help = "Load the demo: users, the doors from Seam (the simulator by default), their units and stays."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--wait", type=float, default=0, help="Seconds to wait for Seam to answer.")
        parser.add_argument("--url", default="http://127.0.0.1:8000/", help="Where the app will be served.")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            # The demo users have published passwords: never on a production install.
            raise CommandError("demo_data only runs with DJANGO_DEBUG=1 (it creates users with known passwords).")
        self._sync_doors(wait=options["wait"])
        admin = self._user(*DEMO_ADMIN, superuser=True)
        staff = self._user(*DEMO_STAFF)
        other = self._user(*DEMO_OTHER_STAFF)
        sites = list(Site.objects.order_by("name"))
        harbour = [s for s in sites if "Harbour" in s.name]
        staff.sites.set([s for s in sites if s not in harbour] or sites)
        other.sites.set(harbour or sites[:1])
        self._units()
        if settings.SEAM_USES_SIMULATOR:
            self._stays(admin)
        else:
            # An Oracode code can never be deleted: demo guests' codes would stay on real doors.
            self.stdout.write("SEAM_API_KEY is set: no demo stays are booked on your real doors.")
        self.stdout.write(
            self.style.SUCCESS(
                f"\nOracode codes is ready at {options['url']}\n"
                f"  staff login:      {DEMO_STAFF[0]} / {DEMO_STAFF[1]}\n"
                f"  other site staff: {DEMO_OTHER_STAFF[0]} / {DEMO_OTHER_STAFF[1]}\n"
                f"  admin login:      {admin.get_username()} / {DEMO_ADMIN[1]}\n"
            )
        )

    def _sync_doors(self, *, wait: float) -> None:
        deadline = time.monotonic() + wait
        while True:
            try:
                report = locks_sync()
            except SeamTransientError as exc:
                if time.monotonic() >= deadline:
                    raise CommandError(f"Seam did not answer at {settings.SEAM_ENDPOINT}: {exc}") from exc
                time.sleep(0.5)
                continue
            except SeamError as exc:
                raise CommandError(f"Could not read the doors from Seam: {exc}") from exc
            self.stdout.write(report.summary())
            return

    def _user(self, username: str, password: str, *, superuser: bool = False) -> Any:
        user_model = get_user_model()
        user, created = user_model.objects.get_or_create(
            username=username, defaults={"is_staff": superuser, "is_superuser": superuser}
        )
        if created:
            user.set_password(password)
            user.save()
        return user

    @transaction.atomic
    def _units(self) -> None:
        """Each door that takes offline codes is a unit of its own, named after it, except on
        the street door's site: there each apartment is a unit of the street door, then its own
        door. A unit made before gets the doors it lacks, in walking order."""
        street = Lock.objects.filter(seam_device_id=demo.HARBOUR_VIEW_STREET_DOOR).first()
        doors = Lock.objects.filter(can_program_offline_access_codes=True).select_related("site")
        if street is not None:
            doors = doors.exclude(pk=street.pk)
        for lock in doors.order_by("site__name", "name"):
            in_building = street is not None and lock.site_id == street.site_id
            unit, _ = Unit.objects.get_or_create(
                site=lock.site,
                name=lock.name,
                defaults={"check_in_time": STANDARD_CHECK_IN, "check_out_time": STANDARD_CHECK_OUT},
            )
            for position, door in enumerate([street, lock] if street is not None and in_building else [lock]):
                UnitDoor.objects.update_or_create(unit=unit, lock=door, defaults={"position": position})

    def _stays(self, admin: User) -> None:
        today = timezone.localdate()
        for site in Site.objects.order_by("name"):
            units = [unit for unit in site.units.order_by("name") if _takes_codes(unit)]
            for number, (name, email, in_days, nights) in enumerate(DEMO_GUESTS):
                if units:
                    self._book(units[number % len(units)], name, email, today + timedelta(days=in_days), nights)
        room_101 = Unit.objects.filter(unit_doors__lock__seam_device_id=demo.OCEAN_BEACH_ROOM_101).first()
        if room_101 is not None:
            self._cancelled_stay(room_101, admin, today)
        cabin = Lock.objects.filter(seam_device_id=demo.LAKESIDE_CABIN_7).first()
        unit = Unit.objects.filter(unit_doors__lock=cabin).first() if cabin is not None else None
        if cabin is not None and unit is not None:
            self._mismatched_stay(unit, cabin, today)

    def _book(self, unit: Unit, name: str, email: str, arrival: date, nights: int) -> Reservation | None:
        """The stay, booked once (its request key finds it again); None when the doors refuse it."""
        try:
            reservation, _ = reservation_create(
                unit=unit,
                guest_name=name,
                guest_email=email,
                arrival=arrival,
                departure=arrival + timedelta(days=nights),
                request_key=_request_key(unit.site, email),
            )
        except Refused as exc:
            self.stdout.write(self.style.WARNING(f"Not booked: {name} in {unit.name}, {unit.site.name}: {exc}"))
            return None
        return reservation

    def _cancelled_stay(self, unit: Unit, admin: User, today: date) -> None:
        name, email, in_days, nights = CANCELLED_GUEST
        reservation = self._book(unit, name, email, today + timedelta(days=in_days), nights)
        if reservation is None or reservation.is_cancelled:
            return
        # Only a code Seam holds opens the door after a cancellation (one never sent is
        # withdrawn), so its create goes out first: here, or by the worker if it got there
        # first (the claim lets one of them send it).
        codes = list(reservation.access_codes.order_by("pk"))
        deadline = time.monotonic() + SEAM_CREATE_WAIT_SECONDS
        while not all(_sent(code) for code in codes) and time.monotonic() < deadline:
            codes = [access_code_create(access_code_id=code.pk) for code in codes]
            if not all(_sent(code) for code in codes):
                time.sleep(0.5)
        reservation_cancel(reservation=reservation, user=admin)

    def _mismatched_stay(self, unit: Unit, cabin: Lock, today: date) -> None:
        name, email, in_days, nights = MISMATCHED_GUEST
        key = _request_key(unit.site, email)
        reservation = Reservation.objects.filter(request_key=key).first()
        if reservation is None:
            arrival = today + timedelta(days=in_days)
            windows = offer_windows(cabin.time_slots, arrival=arrival, departure=arrival + timedelta(days=nights))
            if not windows:
                return
            with transaction.atomic():
                reservation = Reservation(
                    site=unit.site,
                    unit=unit,
                    guest_name=name,
                    guest_email=email,
                    arrival=arrival,
                    departure=arrival + timedelta(days=nights),
                    request_key=key,
                )
                reservation.full_clean()
                reservation.save()
                access_code_request(reservation=reservation, lock=cabin, window=windows[0])
        # What the worker does with it, done now so the demo shows it at once: it fails before
        # any call to Seam. (Nothing happens to a code already failed.)
        for code in AccessCode.objects.filter(reservation=reservation, status=AccessCode.Status.PENDING):
            access_code_create(access_code_id=code.pk)


def _sent(code: AccessCode) -> bool:
    """Seam holds the code, or never will (it failed or was withdrawn)."""
    return bool(code.seam_access_code_id) or code.status in (AccessCode.Status.FAILED, AccessCode.Status.CANCELLED)


def _takes_codes(unit: Unit) -> bool:
    """Whether every door of the unit can take codes now (Cabin 7 cannot)."""
    return all(not unit_door.lock.code_refusal for unit_door in unit.unit_doors.select_related("lock__site"))


def _request_key(site: Site, email: str) -> str:
    """One key per demo guest and site: the stay is booked once however often the demo loads."""
    return f"demo:{site.pk}:{email}"[:64]
