from typing import Any

from django.db import models

from locks.timeslots import slot_timezones


class Lock(models.Model):
    """A dormakaba Oracode door as imported from Seam."""

    site = models.ForeignKey("properties.Site", on_delete=models.PROTECT, related_name="locks")
    seam_device_id = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    timezone = models.CharField(
        max_length=64, blank=True, help_text="The lock's iana_timezone as Seam reports it (may be empty)."
    )
    time_slots = models.JSONField(
        default=list, blank=True, help_text="predefined_time_slots exactly as Seam sent them."
    )
    can_program_offline_access_codes = models.BooleanField(default=False)
    warnings = models.JSONField(default=list, blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    # Seam answered a create with 429: no create is sent to this door before then.
    creates_paused_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["site__name", "name"]

    def __str__(self) -> str:
        return self.name

    @property
    def slot_timezones(self) -> set[str]:
        """The zones named in the brackets of the door's slot times."""
        slots: list[dict[str, Any]] = self.time_slots if isinstance(self.time_slots, list) else []
        return slot_timezones(slots)

    @property
    def timezone_mismatch(self) -> bool:
        """True when a slot time names a zone other than the lock's iana_timezone."""
        zones = self.slot_timezones
        return bool(zones) and (len(zones) > 1 or (bool(self.timezone) and zones != {self.timezone}))
