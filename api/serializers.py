"""What the API answers, field by field.

Answers are built from the same objects the staff pages show: units and their doors, each door's
offer (:mod:`codes.offers`), reservations and their codes. An instant a door's lock keeps (a
window, a code) is given with the offset of the lock's own zone, as the lock shows it, and that
zone beside it; the stay's dates are the site's dates.

No serializer here but ``RevealSerializer`` has a field for a PIN: an answer carries one only
from the audited reveal. What the API reads is in :mod:`api.inputs`.
"""

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from codes.capacity import Capacity
from codes.localtime import describe_window
from codes.messages import explain_error
from codes.models import AccessCode, walking_order
from codes.offers import DoorOffer
from codes.plans import ChangePlan, Plan
from codes.windows import Window
from locks.models import Lock
from properties.models import Reservation, Site, Unit, UnitDoor


@extend_schema_field(OpenApiTypes.DATETIME)
class ZonedDateTimeField(serializers.Field[datetime, Any, str, Any]):
    """An aware instant as ISO 8601 with its own offset (DRF would convert it to UTC)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(read_only=True, **kwargs)

    def to_representation(self, value: datetime) -> str:
        return value.isoformat()


def in_zone(instant: datetime, zone_name: str) -> datetime:
    """``instant`` as the clock of ``zone_name`` shows it; as it is when the zone is unknown."""
    try:
        return instant.astimezone(ZoneInfo(zone_name))
    except (ZoneInfoNotFoundError, ValueError):
        return instant


# --- sites, units, doors --------------------------------------------------------------------


class SiteSerializer(serializers.ModelSerializer[Site]):
    class Meta:
        model = Site
        fields = ["id", "name", "timezone"]


class DoorSerializer(serializers.Serializer[Lock]):
    """A door (an Oracode lock), by the id the window choices use."""

    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)


class UnitDoorSerializer(serializers.ModelSerializer[UnitDoor]):
    id = serializers.IntegerField(source="lock.pk", read_only=True, help_text="The door's (lock's) id.")
    name = serializers.CharField(source="lock.name", read_only=True)

    class Meta:
        model = UnitDoor
        fields = ["id", "name", "position", "optional"]


class UnitSerializer(serializers.ModelSerializer[Unit]):
    """A unit with its site and its doors in the order a guest walks through them."""

    site = SiteSerializer(read_only=True)
    doors = UnitDoorSerializer(source="unit_doors", many=True, read_only=True)

    class Meta:
        model = Unit
        fields = ["id", "name", "site", "check_in_time", "check_out_time", "doors"]


class UnitBriefSerializer(serializers.ModelSerializer[Unit]):
    class Meta:
        model = Unit
        fields = ["id", "name"]


# --- offers: windows for a new stay, plans for a date change --------------------------------


class CapacitySerializer(serializers.Serializer[Capacity]):
    live = serializers.IntegerField(read_only=True, help_text="Codes holding a place on the door now.")
    limit = serializers.IntegerField(read_only=True, allow_null=True)
    level = serializers.ChoiceField(choices=["ok", "low", "full"], read_only=True)
    message = serializers.CharField(read_only=True)


class WindowSerializer(serializers.Serializer[Window]):
    """One code's window, in the door's zone."""

    starts_at = ZonedDateTimeField()
    ends_at = ZonedDateTimeField()
    # Named like DRF's Field.label, which the stubs type; DRF's metaclass takes fields off the class.
    label = serializers.SerializerMethodField()  # type: ignore[assignment]

    def get_label(self, window: Window) -> str:
        return describe_window(window.starts_at, window.ends_at, window.timezone)


class PlanSerializer(serializers.Serializer[Any]):  # a Plan, or a list of them (many=True)
    """A window a door offers a new stay: one code, or for a stay over 31 days a chain of them
    (``codes`` lists each). Send its ``key`` to book it."""

    key = serializers.CharField(read_only=True)
    slot_name = serializers.CharField(read_only=True, help_text="The door's user level.")
    label = serializers.CharField(read_only=True)  # type: ignore[assignment]  # see WindowSerializer.label
    starts_at = ZonedDateTimeField()
    ends_at = ZonedDateTimeField()
    timezone = serializers.SerializerMethodField()
    preselected = serializers.SerializerMethodField(
        help_text="The window closest to the unit's standard times: what a booking without a choice gets."
    )
    codes = WindowSerializer(source="windows", many=True, read_only=True)

    def get_timezone(self, plan: Plan) -> str:
        return plan.windows[0].timezone

    def get_preselected(self, plan: Plan) -> bool:
        return bool(plan.key == self.context.get("preselected"))


class DoorWindowsSerializer(serializers.Serializer[DoorOffer[Plan]]):
    """What one door offers a new stay: its windows, or why none."""

    door = DoorSerializer(source="lock", read_only=True)
    optional = serializers.BooleanField(read_only=True)
    windows = serializers.SerializerMethodField()
    reasons = serializers.ListField(child=serializers.CharField(), read_only=True)
    capacity = CapacitySerializer(read_only=True)

    @extend_schema_field(PlanSerializer(many=True))
    def get_windows(self, door: DoorOffer[Plan]) -> Any:
        return PlanSerializer(door.plans, many=True, context={"preselected": door.preselected}).data


class UnitWindowsSerializer(serializers.Serializer[Any]):
    unit = serializers.IntegerField(read_only=True)
    arrival = serializers.DateField(read_only=True)
    departure = serializers.DateField(read_only=True)
    doors = DoorWindowsSerializer(many=True, read_only=True)
    refusals = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text="Why these dates cannot get a code on every door the stay needs (empty when they can): "
        "such a stay is saved and flagged for staff, without codes.",
    )


class ChangePlanSerializer(serializers.Serializer[ChangePlan]):
    """What a date change does to the stay's codes on one door: which are kept, which added."""

    key = serializers.CharField(read_only=True)
    kind = serializers.ChoiceField(choices=["extend", "replace", "shorten"], read_only=True)
    summary = serializers.CharField(read_only=True)
    details = serializers.ListField(child=serializers.CharField(), read_only=True)
    slot_name = serializers.CharField(read_only=True)
    keeps = serializers.ListField(
        source="keep", child=serializers.IntegerField(), read_only=True, help_text="Ids of the codes kept."
    )
    supersedes = serializers.ListField(
        source="supersede",
        child=serializers.IntegerField(),
        read_only=True,
        help_text="Ids of the codes replaced: they stay live until they end.",
    )
    new_codes = WindowSerializer(source="new_windows", many=True, read_only=True)
    preselected = serializers.SerializerMethodField()

    def get_preselected(self, plan: ChangePlan) -> bool:
        return bool(plan.key == self.context.get("preselected"))


class DoorChangeSerializer(serializers.Serializer[Any]):
    """One door in a date change: what happens (``plan``) and, in a preview, every way offered."""

    door = DoorSerializer(read_only=True)
    optional = serializers.BooleanField(read_only=True)
    plan = serializers.SerializerMethodField(
        help_text="What happens on this door: in a preview, the chosen or preselected plan; once applied, "
        "the plan applied. Null when the door offers nothing."
    )
    plans = serializers.SerializerMethodField(help_text="In a preview, every plan the door offers; else empty.")
    reasons = serializers.ListField(child=serializers.CharField(), read_only=True)

    @extend_schema_field(ChangePlanSerializer(allow_null=True))
    def get_plan(self, door: dict[str, Any]) -> Any:
        plan = door["plan"]
        return None if plan is None else ChangePlanSerializer(plan, context={"preselected": door["preselected"]}).data

    @extend_schema_field(ChangePlanSerializer(many=True))
    def get_plans(self, door: dict[str, Any]) -> Any:
        return ChangePlanSerializer(door["plans"], many=True, context={"preselected": door["preselected"]}).data


# --- reservations and their codes ---------------------------------------------------------------


class CodeErrorSerializer(serializers.Serializer[Any]):
    type = serializers.CharField(read_only=True, help_text="Seam's error type.")
    summary = serializers.CharField(read_only=True)
    action = serializers.CharField(read_only=True)


class CodeWindowTimes:
    """A code's start and end as ISO times with the lock's offset, for the serializers of codes."""

    @extend_schema_field(OpenApiTypes.DATETIME)
    def get_starts_at(self, code: AccessCode) -> str:
        return in_zone(code.starts_at, code.timezone).isoformat()

    @extend_schema_field(OpenApiTypes.DATETIME)
    def get_ends_at(self, code: AccessCode) -> str:
        return in_zone(code.ends_at, code.timezone).isoformat()


class AccessCodeSerializer(CodeWindowTimes, serializers.ModelSerializer[AccessCode]):
    """A code as staff see it on the reservation's page, without its PIN (``pin_available``
    says whether ``POST /api/v1/codes/{id}/reveal/`` can give it)."""

    door = DoorSerializer(source="lock", read_only=True)
    current = serializers.BooleanField(
        source="is_current", read_only=True, help_text="One the guest should use: not replaced, withdrawn or failed."
    )
    starts_at = serializers.SerializerMethodField()
    ends_at = serializers.SerializerMethodField()
    label = serializers.SerializerMethodField()  # type: ignore[assignment]  # see WindowSerializer.label
    pin_available = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()

    class Meta:
        model = AccessCode
        # Listed one by one, never "__all__": the row holds the PIN.
        fields = [
            "id",
            "door",
            "status",
            "current",
            "slot_name",
            "starts_at",
            "ends_at",
            "timezone",
            "label",
            "pin_available",
            "superseded_at",
            "ledger_reason",
            "error",
            "created_at",
        ]

    def get_label(self, code: AccessCode) -> str:
        try:
            return describe_window(code.starts_at, code.ends_at, code.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            return f"{code.starts_at.isoformat()} → {code.ends_at.isoformat()}"

    def get_pin_available(self, code: AccessCode) -> bool:
        return pin_available(code)

    @extend_schema_field(CodeErrorSerializer(allow_null=True))
    def get_error(self, code: AccessCode) -> dict[str, str] | None:
        # Seam's own message is left out: it is free text from outside, and is not needed to act.
        if not code.last_error_type:
            return None
        advice = explain_error(code.last_error_type)
        return {"type": code.last_error_type, "summary": advice.summary, "action": advice.action}


def pin_available(code: AccessCode) -> bool:
    """Whether the code is set and Seam has given it its PIN: what the reveal needs."""
    return code.status == AccessCode.Status.SET and bool(code.code)


class ReservationSerializer(serializers.ModelSerializer[Reservation]):
    """A stay, with every code it has had, door by door in the order the guest meets the doors.

    Reads what ``codes.selectors`` prefetched (the unit's doors, the codes): the same few
    queries for a page of stays as for one.
    """

    site = SiteSerializer(read_only=True)
    unit = UnitBriefSerializer(read_only=True)
    needs_attention = serializers.BooleanField(read_only=True)
    attention = serializers.CharField(
        read_only=True, help_text="Why the stay needs staff (each door's reasons); empty when nothing is wrong."
    )
    codes = serializers.SerializerMethodField()

    class Meta:
        model = Reservation
        fields = [
            "id",
            "site",
            "unit",
            "guest_name",
            "guest_email",
            "language",
            "arrival",
            "departure",
            "nights",
            "source",
            "external_id",
            "needs_attention",
            "attention",
            "cancelled_at",
            "created_at",
            "codes",
        ]
        read_only_fields = fields

    @extend_schema_field(AccessCodeSerializer(many=True))
    def get_codes(self, reservation: Reservation) -> Any:
        codes = walking_order(reservation.access_codes.all(), reservation.unit)
        return AccessCodeSerializer(codes, many=True).data


class RevealSerializer(CodeWindowTimes, serializers.ModelSerializer[AccessCode]):
    """The PIN of one code: the only answer that carries one."""

    pin = serializers.CharField(source="code", read_only=True)
    door = DoorSerializer(source="lock", read_only=True)
    starts_at = serializers.SerializerMethodField()
    ends_at = serializers.SerializerMethodField()

    class Meta:
        model = AccessCode
        fields = ["id", "reservation", "door", "pin", "starts_at", "ends_at", "timezone"]
        read_only_fields = fields


class CancelSerializer(serializers.Serializer[Any]):
    reservation = ReservationSerializer(read_only=True)
    ledger_codes = AccessCodeSerializer(
        many=True,
        read_only=True,
        help_text="The stay's codes that stay live until they end (an Oracode code cannot be revoked), "
        "listed in the door's ledger.",
    )


class ChangeDatesResultSerializer(serializers.Serializer[Any]):
    applied = serializers.BooleanField(read_only=True, help_text="False: a preview, nothing was changed.")
    reservation = ReservationSerializer(read_only=True)
    doors = DoorChangeSerializer(many=True, read_only=True)
    refusals = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text="Why the change cannot be applied (a door the stay needs offers nothing); empty when it can.",
    )
