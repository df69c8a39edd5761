"""Importing Oracode doors from Seam into ``Lock`` rows."""

import logging
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from locks.models import Lock
from locks.seam import SeamClient, SeamLock, seam_client_from_settings
from locks.timeslots import slot_timezones
from properties.models import Site

logger = logging.getLogger(__name__)

UNNAMED_SITE = "Seam doors without a dormakaba site"


@dataclass
class SyncReport:
    created: list[Lock] = field(default_factory=list)
    updated: list[Lock] = field(default_factory=list)
    sites_created: list[Site] = field(default_factory=list)
    # Doors whose slot times name a zone other than the lock's iana_timezone (or carry
    # Seam's time_zone_mismatch warning): every code on them would be off by hours.
    timezone_mismatches: list[Lock] = field(default_factory=list)
    missing_at_seam: list[Lock] = field(default_factory=list)

    def summary(self) -> str:
        parts = [
            f"{len(self.created)} door(s) imported",
            f"{len(self.updated)} updated",
            f"{len(self.sites_created)} site(s) created",
        ]
        if self.timezone_mismatches:
            names = ", ".join(lock.name for lock in self.timezone_mismatches)
            parts.append(f"time zone mismatch on: {names}")
        if self.missing_at_seam:
            names = ", ".join(lock.name for lock in self.missing_at_seam)
            parts.append(f"no longer listed by Seam: {names}")
        return "; ".join(parts) + "."


def _site_for(seam_lock: SeamLock, report: SyncReport) -> Site:
    site_name = (seam_lock.site_name or "").strip() or UNNAMED_SITE
    zones = sorted(slot_timezones(seam_lock.time_slots))
    site_zone = seam_lock.timezone or (zones[0] if zones else "UTC")
    site, created = Site.objects.get_or_create(
        dormakaba_site_name=site_name, defaults={"name": site_name, "timezone": site_zone}
    )
    if created:
        report.sites_created.append(site)
    return site


@transaction.atomic
def locks_sync(*, client: SeamClient | None = None) -> SyncReport:
    """Import every Oracode door Seam lists, creating sites from dormakaba site names.

    Doors are matched on their Seam device id; slots, zone, warnings, the capability flag,
    how many live codes Seam says the door holds and its connected account are replaced with
    what Seam sends now. Doors Seam no longer lists are kept (their codes still exist) and
    reported. Raises ``SeamError`` when Seam cannot be read; nothing is written then.
    """
    client = client or seam_client_from_settings()
    seam_locks = client.list_locks()
    report = SyncReport()
    now = timezone.now()
    seen: set[str] = set()
    for seam_lock in seam_locks:
        seen.add(seam_lock.device_id)
        site = _site_for(seam_lock, report)
        lock, created = Lock.objects.update_or_create(
            seam_device_id=seam_lock.device_id,
            defaults={
                "site": site,
                "name": seam_lock.name,
                "timezone": seam_lock.timezone or "",
                "time_slots": seam_lock.time_slots,
                "can_program_offline_access_codes": seam_lock.can_program_offline_access_codes,
                "warnings": seam_lock.warnings,
                "seam_max_active_codes": seam_lock.max_active_codes_supported,
                "seam_connected_account_id": seam_lock.connected_account_id or "",
                "last_synced_at": now,
            },
        )
        (report.created if created else report.updated).append(lock)
        # Seam's own time-zone warnings are among the lock's warnings, which timezone_problem reads.
        if lock.timezone_problem:
            report.timezone_mismatches.append(lock)
    report.missing_at_seam = list(Lock.objects.exclude(seam_device_id__in=seen))
    for lock in report.timezone_mismatches:
        logger.warning(
            "Door %s (%s): no codes until its time zones agree: %s",
            lock.name,
            lock.seam_device_id,
            lock.timezone_problem,
        )
    return report
