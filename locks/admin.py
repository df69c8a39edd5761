from typing import Any

from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_POST

from locks.models import Lock
from locks.seam import SeamError
from locks.services import locks_sync
from locks.timeslots import describe_slots
from properties.admin import SiteScopedAdmin
from properties.models import Unit, UnitDoor


@admin.register(Lock)
class LockAdmin(SiteScopedAdmin[Lock]):
    """Doors as Seam describes them. (``codes.admin`` registers it again with the live codes
    that hold a place on each door, which only the codes know.)"""

    site_path = "site"
    list_display = [
        "name",
        "site",
        "timezone",
        "slot_count",
        "can_program_offline_access_codes",
        "code_capacity",
        "timezone_ok",
        "last_synced_at",
    ]
    list_filter = ["site", "can_program_offline_access_codes", "timezone"]
    search_fields = ["name", "seam_device_id", "site__name"]
    list_select_related = ["site"]
    readonly_fields = [
        "seam_device_id",
        "timezone",
        "time_slots_table",
        "timezone_check",
        "can_program_offline_access_codes",
        "warnings",
        "last_synced_at",
        "created_at",
    ]
    exclude = ["time_slots"]
    actions = ["sync_from_seam", "make_units"]
    # Adds a "Sync doors from Seam" button: the action alone needs a door selected first,
    # which an empty install does not have.
    change_list_template = "admin/locks/lock/change_list.html"

    def get_urls(self) -> list[URLPattern]:
        sync = self.admin_site.admin_view(require_POST(self.sync_view))
        return [path("sync/", sync, name="locks_lock_sync"), *super().get_urls()]

    def sync_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_sync_permission(request):
            return HttpResponse("Not allowed.", status=403)
        self._sync(request)
        return HttpResponseRedirect(reverse("admin:locks_lock_changelist"))

    def has_sync_permission(self, request: HttpRequest) -> bool:
        # A sync imports every door of the whole Seam workspace, for every site.
        return bool(getattr(request.user, "is_superuser", False))

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra_context = {**(extra_context or {}), "has_sync_permission": self.has_sync_permission(request)}
        return super().changelist_view(request, extra_context)

    def get_readonly_fields(self, request: HttpRequest, obj: Lock | None = None) -> list[str]:
        # A door's site decides who sees its codes: staff may not hand a saved door, and the
        # codes on it, to another site. (The next sync sets it from Seam's site name anyway.)
        readonly = list(self.readonly_fields)
        if obj is None or getattr(request.user, "is_superuser", False):
            return readonly
        return [*readonly, "site"]

    @admin.display(description="Time zones agree", boolean=True)
    def timezone_ok(self, lock: Lock) -> bool:
        return not lock.timezone_problem

    @admin.display(description="Time-zone check")
    def timezone_check(self, lock: Lock) -> str:
        return lock.timezone_problem or "The site, the lock and its time slots agree."

    @admin.display(description="Slots")
    def slot_count(self, lock: Lock) -> int:
        return len(lock.time_slots or [])

    @admin.display(description="Time slots (user levels)")
    def time_slots_table(self, lock: Lock) -> str:
        slots = describe_slots(lock.time_slots)
        if not slots:
            return "No time slots."
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((slot.name, slot.check_in, slot.check_out, slot.kind, slot.prefix) for slot in slots),
        )
        return format_html(
            "<table><thead><tr><th>Name</th><th>Check-in</th><th>Check-out</th><th>Kind</th><th>Prefix</th>"
            "</tr></thead><tbody>{}</tbody></table>",
            rows,
        )

    @admin.action(description="Sync all doors from Seam", permissions=["sync"])
    def sync_from_seam(self, request: HttpRequest, queryset: QuerySet[Lock]) -> None:
        self._sync(request)

    def has_make_units_permission(self, request: HttpRequest) -> bool:
        # What making the units by hand takes: a change to the doors, and units with their doors added.
        return self.has_change_permission(request) and request.user.has_perms(
            ["properties.add_unit", "properties.add_unitdoor"]
        )

    @admin.action(description="Make a unit of each selected door", permissions=["make_units"])
    def make_units(self, request: HttpRequest, queryset: QuerySet[Lock]) -> None:
        """A unit of one door for each door, named after it: for sites whose rooms each have one
        door. A door whose site has a unit of that name already is left as it is."""
        made: list[str] = []
        skipped: list[str] = []
        # ``queryset`` is the selection within the user's own sites (``get_queryset``).
        for lock in queryset.select_related("site").order_by("site__name", "name", "pk"):
            with transaction.atomic():
                unit, created = Unit.objects.get_or_create(site=lock.site, name=lock.name)
                if created:
                    UnitDoor.objects.create(unit=unit, lock=lock)
            (made if created else skipped).append(f"{lock.name} ({lock.site.name})")
        if made:
            self.message_user(request, f"Made {len(made)} unit(s): {', '.join(made)}.", messages.SUCCESS)
        if skipped:
            self.message_user(
                request,
                f"Skipped {len(skipped)} door(s) whose site has a unit of that name already: {', '.join(skipped)}.",
                messages.WARNING,
            )

    def _sync(self, request: HttpRequest) -> None:
        try:
            report = locks_sync()
        except SeamError as exc:
            self.message_user(request, f"Could not read the doors from Seam: {exc}", messages.ERROR)
            return
        level = messages.WARNING if report.timezone_mismatches else messages.SUCCESS
        self.message_user(request, report.summary(), level)
