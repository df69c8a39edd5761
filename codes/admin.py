import json
from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html

from codes.capacity import with_live_code_counts
from codes.creating import access_code_retry
from codes.emails import code_email_request
from codes.errors import Refused
from codes.guestlinks import guest_link_revoke
from codes.models import (
    AccessCode,
    AccessCodeEvent,
    CodeEmail,
    GuestLink,
    SeamCreateCall,
    StaffAlert,
    WebhookDelivery,
)
from codes.stays import ledger_acknowledge
from locks.admin import LockAdmin
from locks.models import Lock
from properties.admin import SiteScopedAdmin


class AccessCodeEventInline(admin.TabularInline[AccessCodeEvent, AccessCode]):
    model = AccessCodeEvent
    extra = 0
    can_delete = False
    fields = readonly_fields = ("at", "kind", "message", "user")

    def has_add_permission(self, request: HttpRequest, obj: AccessCode | None = None) -> bool:
        return False


class CodeEmailInline(admin.TabularInline[CodeEmail, AccessCode]):
    model = CodeEmail
    extra = 0
    can_delete = False
    fields = readonly_fields = (
        "requested_at",
        "to_address",
        "is_resend",
        "status",
        "sent_at",
        "error",
        "requested_by",
    )

    def has_add_permission(self, request: HttpRequest, obj: AccessCode | None = None) -> bool:
        return False


@admin.register(AccessCode)
class AccessCodeAdmin(SiteScopedAdmin[AccessCode]):
    site_path = "reservation__site"
    list_display = [
        "name",
        "reservation",
        "lock",
        "status",
        "seam_status",
        "starts_at",
        "ends_at",
        "escalation",
        "last_error_type",
        "superseded_at",
        "ledger_reason",
        "acknowledged_at",
    ]
    list_filter = [
        "status",
        "escalation",
        "ledger_reason",
        ("superseded_at", admin.EmptyFieldListFilter),
        ("acknowledged_at", admin.EmptyFieldListFilter),
        "max_time_rounding",
        "lock__site",
    ]
    search_fields = ["name", "seam_access_code_id", "reservation__guest_name", "lock__name"]
    list_select_related = ["reservation", "lock"]
    date_hierarchy = "starts_at"
    inlines = [CodeEmailInline, AccessCodeEventInline]
    actions = ["retry_failed", "resend_email", "acknowledge_ledger"]
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
        "timezone",
        "max_time_rounding",
        "status",
        "seam_access_code_id",
        "seam_status",
        "errors",
        "warnings",
        "pending_mutations",
        "last_error_type",
        "last_error_message",
        "attempts",
        "checks",
        "create_sent",
        "claim_expires_at",
        "next_check_at",
        "in_line_since",
        "set_at",
        "escalation",
        "superseded_at",
        "ledger_reason",
        "ledger_at",
        "acknowledged_at",
        "acknowledged_by",
        "created_at",
        "updated_at",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Codes are only created through the reservation flow, which guards exactly-once.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AccessCode | None = None) -> bool:
        # An Oracode code cannot be deleted at Seam; deleting the row would only hide it.
        return False

    @admin.action(description="Retry failed codes (those Seam never created)", permissions=["change"])
    def retry_failed(self, request: HttpRequest, queryset: QuerySet[AccessCode]) -> None:
        codes = queryset.filter(status=AccessCode.Status.FAILED)
        self._each(
            request, codes, "code(s) queued again", lambda code, user: access_code_retry(access_code=code, user=user)
        )

    @admin.action(description="Resend the code email to the guest", permissions=["change"])
    def resend_email(self, request: HttpRequest, queryset: QuerySet[AccessCode]) -> None:
        codes = queryset.select_related("reservation__site", "lock")
        self._each(
            request,
            codes,
            "email(s) queued",
            lambda code, user: code_email_request(access_code=code, user=user, resend=True),
        )

    @admin.action(
        description="Acknowledge ledger codes (live codes of cancelled or changed stays)", permissions=["change"]
    )
    def acknowledge_ledger(self, request: HttpRequest, queryset: QuerySet[AccessCode]) -> None:
        user = request.user
        if not isinstance(user, User):
            return
        self._each(
            request, queryset, "code(s) acknowledged", lambda code, _: ledger_acknowledge(access_code=code, user=user)
        )

    def _each(
        self,
        request: HttpRequest,
        codes: QuerySet[AccessCode],
        done: str,
        action: Callable[[AccessCode, User | None], object],
    ) -> None:
        """Apply ``action`` to each code; a refusal (``Refused``) is reported, not fatal."""
        user = request.user if isinstance(request.user, User) else None
        succeeded, refused = 0, []
        for code in codes:
            try:
                action(code, user)
            except Refused as exc:
                refused.append(f"{code.name}: {exc}")
            else:
                succeeded += 1
        self.message_user(request, f"{succeeded} {done}.", messages.SUCCESS)
        for message in refused:
            self.message_user(request, message, messages.WARNING)


@admin.register(CodeEmail)
class CodeEmailAdmin(SiteScopedAdmin[CodeEmail]):
    site_path = "access_code__reservation__site"
    list_display = [
        "access_code",
        "to_address",
        "status",
        "is_resend",
        "is_automatic",
        "requested_at",
        "sent_at",
        "requested_by",
    ]
    list_filter = ["status", "is_resend"]
    search_fields = ["to_address", "access_code__name"]
    list_select_related = ["access_code", "requested_by"]
    readonly_fields = [f.name for f in CodeEmail._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(AccessCodeEvent)
class AccessCodeEventAdmin(SiteScopedAdmin[AccessCodeEvent]):
    site_path = "access_code__reservation__site"
    list_display = ["at", "access_code", "kind", "message", "user"]
    list_filter = ["kind"]
    search_fields = ["access_code__name", "message"]
    list_select_related = ["access_code", "user"]
    readonly_fields = ["at", "access_code", "kind", "message", "user"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(SeamCreateCall)
class SeamCreateCallAdmin(SiteScopedAdmin[SeamCreateCall]):
    site_path = "lock__site"
    list_display = ["sent_at", "answered_at", "lock", "access_code"]
    list_filter = ["lock"]
    list_select_related = ["lock", "access_code"]
    readonly_fields = ["sent_at", "answered_at", "lock", "access_code"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(SiteScopedAdmin[WebhookDelivery]):
    # No site_path: a delivery belongs to no site, so superusers only.
    list_display = ["received_at", "event_type", "seam_access_code_id", "svix_id"]
    list_filter = ["event_type"]
    search_fields = ["svix_id", "seam_access_code_id"]
    exclude = ["payload"]
    readonly_fields = ["received_at", "event_type", "seam_access_code_id", "svix_id", "payload_without_pin"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="Payload")
    def payload_without_pin(self, delivery: WebhookDelivery) -> str:
        # Seam's set_on_device event carries the PIN; revealing it is an audited action elsewhere.
        return format_html("<pre>{}</pre>", json.dumps(_without_pin(delivery.payload), indent=2, sort_keys=True))


def _without_pin(value: Any) -> Any:
    """``value`` with every PIN hidden, at any depth: a ``code`` key's value, and ``from`` and
    ``to`` of a change that names the code (``{"field": "code", "from": ..., "to": ...}``)."""
    if isinstance(value, list):
        return [_without_pin(item) for item in value]
    if not isinstance(value, dict):
        return value
    names_pin = "code" in (value.get("field"), value.get("property"))
    return {
        key: "(hidden)" if key == "code" or (names_pin and key in ("from", "to")) else _without_pin(item)
        for key, item in value.items()
    }


@admin.register(StaffAlert)
class StaffAlertAdmin(SiteScopedAdmin[StaffAlert]):
    site_path = "site"
    list_display = ["created_at", "kind", "site", "lock", "access_code", "emailed_at", "resolved_at"]
    list_filter = ["kind", "site", ("resolved_at", admin.EmptyFieldListFilter)]
    search_fields = ["message", "key"]
    list_select_related = ["site", "lock", "access_code"]
    readonly_fields = [
        "created_at",
        "kind",
        "key",
        "site",
        "lock",
        "access_code",
        "message",
        "email_queued_at",
        "emailed_at",
        "email_error",
        "resolution",
        "resolution_emailed_at",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Alerts are raised by what Seam reports; staff only mark them resolved.
        return False


@admin.register(GuestLink)
class GuestLinkAdmin(SiteScopedAdmin[GuestLink]):
    """Stays' guest page links, read-only. The public id (and so the link) is never shown: the
    link reaches the guest by the code email, and staff revoke and renew it."""

    site_path = "reservation__site"
    list_display = ["reservation", "created_at", "created_by", "revoked_at", "revoked_by", "last_viewed_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["reservation__guest_name"]
    list_select_related = ["reservation", "created_by", "revoked_by"]
    exclude = ["public_id"]
    readonly_fields = ["reservation", "created_at", "created_by", "revoked_at", "revoked_by", "last_viewed_at"]
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: GuestLink | None = None) -> bool:
        # Revoking keeps the record of who made the link and when it was viewed.
        return False

    @admin.action(description="Revoke the selected guest page links", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[GuestLink]) -> None:
        user = request.user if isinstance(request.user, User) else None
        revoked = sum(
            guest_link_revoke(link.reservation, user=user)
            for link in queryset.filter(revoked_at__isnull=True).select_related("reservation")
        )
        self.message_user(request, f"{revoked} guest page link(s) revoked.", messages.SUCCESS)


admin.site.unregister(Lock)


@admin.register(Lock)
class DoorAdmin(LockAdmin):
    """The door admin with the live codes that hold a place on each door (codes know them;
    the locks app, below this one, does not)."""

    list_display = [*LockAdmin.list_display[:5], "live_code_count", *LockAdmin.list_display[5:]]
    readonly_fields = [*LockAdmin.readonly_fields, "live_code_count"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Lock]:
        return with_live_code_counts(super().get_queryset(request), now=timezone.now())

    @admin.display(description="Live codes", ordering="live_codes")
    def live_code_count(self, lock: Lock) -> int:
        return int(getattr(lock, "live_codes", 0))
