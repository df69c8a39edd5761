import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from locks.seam import SeamError, SeamTransientError
from locks.services import locks_sync
from properties.models import Reservation, Site, Unit, UnitDoor

DEMO_ADMIN = ("admin", "oracode-admin")
DEMO_STAFF = ("demo", "oracode-demo")
# Staff of one site only: shows that staff see nothing of other sites.
DEMO_OTHER_STAFF = ("harbour", "oracode-harbour")

DEMO_GUESTS = [
    ("Ana Souza", "ana.souza@example.com", 3, 4),
    ("Ben Carter", "ben.carter@example.com", 6, 3),
    ("Chloé Martin", "chloe.martin@example.com", 10, 7),
]


class Command(BaseCommand):
    help = "Load the demo: users, the doors from Seam (the simulator by default) and a few reservations."

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
        self._reservations(sites)
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

    def _reservations(self, sites: list[Site]) -> None:
        today = timezone.localdate()
        for site in sites:
            lock = site.locks.filter(can_program_offline_access_codes=True).order_by("name").first()
            if lock is None:
                continue
            unit, created = Unit.objects.get_or_create(site=site, name=lock.name)
            if created:
                UnitDoor.objects.create(unit=unit, lock=lock)
            for name, email, in_days, nights in DEMO_GUESTS:
                arrival = today + timedelta(days=in_days)
                Reservation.objects.get_or_create(
                    site=site,
                    unit=unit,
                    guest_email=email,
                    arrival=arrival,
                    defaults={"guest_name": name, "departure": arrival + timedelta(days=nights)},
                )
