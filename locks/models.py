from typing import Any

from django.db import models

from locks.seam import MaxCodesReached, max_codes_reached
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
    code_capacity = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Most codes this door can hold at once, if you know it. Every code made counts until it ends.",
    )
    seam_max_active_codes = models.PositiveIntegerField(
        null=True, blank=True, help_text="Seam's max_active_codes_supported for this door, when Seam says."
    )
    # Which of the workspace's connected accounts (the dormakaba login) the door comes through:
    # a connected-account event names the account only, and this finds its doors and sites.
    seam_connected_account_id = models.CharField(max_length=64, blank=True, db_index=True)
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
    def seam_warning_codes(self) -> set[str]:
        warnings: list[Any] = self.warnings if isinstance(self.warnings, list) else []
        return {str(w.get("warning_code")) for w in warnings if isinstance(w, dict) and w.get("warning_code")}

    @property
    def max_codes_reached(self) -> MaxCodesReached | None:
        """Seam's ``max_access_codes_reached`` warning on this door as last synced, if any."""
        warnings: list[Any] = self.warnings if isinstance(self.warnings, list) else []
        return max_codes_reached(warnings)

    @property
    def code_refusal(self) -> str:
        """Why no code can be made for this door now, in one sentence staff can act on; "" when
        codes can be made. Every page and service that refuses a door says it in these words."""
        if not self.can_program_offline_access_codes:
            return f"Seam says {self.name} cannot take offline codes. Choose another door."
        if self.timezone_problem:
            return f"No codes can be made for {self.name} until its time zones agree. {self.timezone_problem}"
        return ""

    @property
    def timezone_problem(self) -> str:
        """Why codes must not be made for this door because its time zones disagree; "" when they agree.

        The site's zone (ours), the lock's ``iana_timezone`` and the zones of its slot times
        must all be one zone: a code window is computed in the slots' zone, shown to staff in
        the site's, and kept by the lock in its own, so any difference shifts codes by hours.
        """
        slot_zones = sorted(self.slot_timezones)
        site_zone = self.site.timezone
        if len(slot_zones) > 1:
            return (
                f"Its time slots name several time zones ({', '.join(slot_zones)}). Have the dormakaba site's "
                "time zone corrected, then sync the doors again."
            )
        if self.timezone and slot_zones and slot_zones != [self.timezone]:
            return (
                f"The lock's time zone ({self.timezone}) differs from its time slots' ({slot_zones[0]}). Have the "
                "dormakaba site's time zone corrected in Seam, then sync the doors again."
            )
        door_zone = self.timezone or (slot_zones[0] if slot_zones else "")
        if door_zone and door_zone != site_zone:
            return (
                f"The door keeps {door_zone} time but the site {self.site.name} is set to {site_zone} here. "
                "Correct the site's time zone (or the dormakaba site's), then sync the doors again."
            )
        flagged = sorted(self.seam_warning_codes & {"time_zone_mismatch", "time_zone_unknown"})
        if flagged:
            return (
                f"Seam warns about this door's time zone ({', '.join(flagged)}). Have the dormakaba site's "
                "time zone corrected in Seam, then sync the doors again."
            )
        return ""
