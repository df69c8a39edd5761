from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from locks.models import Lock
from locks.seam import SeamError
from locks.services import locks_sync
from locks.timeslots import parse_slot_time, slot_prefix


def _slot_kind(slot: dict[str, Any]) -> str:
    if slot.get("is_master"):
        return "master (not supported)"
    if slot.get("is_one_shot"):
        return "one-shot (not supported)"
    if slot.get("is_biweekly_mode"):
        return "biweekly (14 nights)"
    if slot.get("is_24_hour"):
        return "daily-bound"
    return "hourly-bound"


def _slot_time(value: object) -> str:
    parsed = parse_slot_time(value)
    return f"{parsed.wall_time:%H:%M} {parsed.zone}" if parsed else "—"


@admin.register(Lock)
class LockAdmin(admin.ModelAdmin[Lock]):
    list_display = ["name", "site", "timezone", "slot_count", "can_program_offline_access_codes", "last_synced_at"]
    list_filter = ["site", "can_program_offline_access_codes", "timezone"]
    search_fields = ["name", "seam_device_id", "site__name"]
    list_select_related = ["site"]
    readonly_fields = [
        "seam_device_id",
        "timezone",
        "time_slots_table",
        "can_program_offline_access_codes",
        "warnings",
        "last_synced_at",
        "created_at",
    ]
    exclude = ["time_slots"]
    actions = ["sync_from_seam"]

    @admin.display(description="Slots")
    def slot_count(self, lock: Lock) -> int:
        return len(lock.time_slots or [])

    @admin.display(description="Time slots (user levels)")
    def time_slots_table(self, lock: Lock) -> str:
        slots = [s for s in (lock.time_slots or []) if isinstance(s, dict)]
        if not slots:
            return "No time slots."
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    slot.get("name") or "(unnamed)",
                    _slot_time(slot.get("check_in_time")),
                    _slot_time(slot.get("check_out_time")),
                    _slot_kind(slot),
                    "—" if slot_prefix(slot) is None else slot_prefix(slot),
                )
                for slot in slots
            ),
        )
        return format_html(
            "<table><thead><tr><th>Name</th><th>Check-in</th><th>Check-out</th><th>Kind</th><th>Prefix</th>"
            "</tr></thead><tbody>{}</tbody></table>",
            rows,
        )

    @admin.action(description="Sync all doors from Seam")
    def sync_from_seam(self, request: HttpRequest, queryset: QuerySet[Lock]) -> None:
        try:
            report = locks_sync()
        except SeamError as exc:
            self.message_user(request, f"Could not read the doors from Seam: {exc}", messages.ERROR)
            return
        level = messages.WARNING if report.timezone_mismatches else messages.SUCCESS
        self.message_user(request, report.summary(), level)
