from django.contrib import admin
from django.http import HttpRequest

from codes.models import AccessCode


@admin.register(AccessCode)
class AccessCodeAdmin(admin.ModelAdmin[AccessCode]):
    list_display = ["name", "reservation", "lock", "status", "seam_status", "starts_at", "ends_at", "last_error_type"]
    list_filter = ["status", "max_time_rounding", "lock__site"]
    search_fields = ["name", "seam_access_code_id", "reservation__guest_name", "lock__name"]
    list_select_related = ["reservation", "lock"]
    # The PIN is left out on purpose: revealing it is an audited action on the dashboard.
    exclude = ["code"]
    readonly_fields = [
        "name",
        "reservation",
        "lock",
        "slot_name",
        "user_level_id",
        "starts_at",
        "ends_at",
        "max_time_rounding",
        "status",
        "seam_access_code_id",
        "seam_status",
        "errors",
        "warnings",
        "last_error_type",
        "last_error_message",
        "attempts",
        "next_check_at",
        "created_at",
        "updated_at",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Codes are only created through the reservation flow, which guards exactly-once.
        return False
