from typing import Any

from django.core.management.base import BaseCommand, CommandError

from locks.seam import SeamError
from locks.services import locks_sync


class Command(BaseCommand):
    help = "Import the dormakaba Oracode doors from Seam into Lock rows and report zone mismatches."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = locks_sync()
        except SeamError as exc:
            raise CommandError(f"Could not read the doors from Seam: {exc}") from exc
        self.stdout.write(self.style.SUCCESS(report.summary()))
        for lock in report.timezone_mismatches:
            self.stdout.write(
                self.style.WARNING(f"No codes for {lock.name} ({lock.seam_device_id}): {lock.timezone_problem}")
            )
