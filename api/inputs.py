"""What the API reads: request bodies and query strings, checked field by field before any
service is called, so that bad input is a 400 that names the field and costs nothing.

Dates are checked as the booking form checks them (``codes.windows.check_stay``): departure
after arrival, no longer than the longest stay, not too far ahead or long past.
"""

from datetime import date
from typing import Any

from django.conf import settings
from rest_framework import serializers

from api.access import api_user
from codes.errors import Refused
from codes.models import AccessCode
from codes.selectors import ReservationSort, StayFilter
from codes.windows import check_stay
from properties.models import Unit
from properties.selectors import sites_for_user

# A chain of codes for the longest stay names every link in its key: room to spare for a year.
PLAN_KEY_MAX_LENGTH = 4000


# The code states the reservation list filters on, as the staff pages' list does
# (``codes.selectors.reservations_for_user``): a code status, "late" or "none".
CODE_STATES = [
    *AccessCode.Status.choices,
    ("late", "Late: not set near check-in"),
    ("none", "No code"),
]


class CallersUnits:
    """For an input serializer with a ``unit`` field: only the caller's units are known, so
    another site's unit is an unknown one, a 400 like any other. (Without a request, as when the
    schema is generated, no unit is known.)"""

    fields: Any
    context: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        unit_field = self.fields["unit"]
        assert isinstance(unit_field, serializers.PrimaryKeyRelatedField)
        if request is not None:
            unit_field.queryset = Unit.objects.filter(site__in=sites_for_user(user=api_user(request)))


class StayDatesSerializer(serializers.Serializer[Any]):
    """A stay's dates, checked as the booking form checks them: departure after arrival, not
    longer than the longest stay, not too far ahead or long past."""

    arrival = serializers.DateField()
    departure = serializers.DateField()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        arrival: date = attrs["arrival"]
        departure: date = attrs["departure"]
        try:
            check_stay(arrival, departure, today=self.context["today"])
        except Refused as refusal:
            raise serializers.ValidationError({refusal.field or "departure": [refusal.message]}) from refusal
        return attrs


class WindowChoicesField(serializers.DictField):
    """``{"<door id>": "<window key>"}``: the window chosen on a door, among those it offers."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            child=serializers.CharField(max_length=PLAN_KEY_MAX_LENGTH),
            required=False,
            help_text="The window (plan) key chosen for a door, by the door's id; "
            "a door not named gets its preselected one.",
            **kwargs,
        )

    def to_internal_value(self, data: Any) -> dict[Any, Any]:
        chosen = super().to_internal_value(data)
        keys: dict[int, str] = {}
        for door, key in chosen.items():
            if not (isinstance(door, str) and door.isascii() and door.isdigit() and len(door) < 19):
                raise serializers.ValidationError(f"“{str(door)[:40]}” is not a door id.")
            keys[int(door)] = key
        return keys


def check_doors_named(keys: dict[int, str], lock_ids: set[int]) -> None:
    """Refuse a window choice for a door the unit has not: it would be dropped unseen."""
    unknown = sorted(set(keys) - lock_ids)
    if unknown:
        raise serializers.ValidationError(
            {"windows": [f"Door {unknown[0]} is not a door of this unit: see its doors in GET /api/v1/units/."]}
        )


class ReservationCreateSerializer(CallersUnits, StayDatesSerializer):
    """A stay sent by a PMS. ``external_id`` is its id there: sending the same stay again returns
    the one booked (200), while other data under a known id is a 409."""

    unit = serializers.PrimaryKeyRelatedField(queryset=Unit.objects.none(), pk_field=serializers.IntegerField())
    guest_name = serializers.CharField(max_length=200)
    guest_email = serializers.EmailField(max_length=254, required=False, allow_blank=True, default="")
    external_id = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    language = serializers.ChoiceField(
        choices=settings.LANGUAGES,
        required=False,
        allow_blank=True,
        default="",
        help_text="The guest's language for the code email and the guest page; empty: the site's.",
    )
    windows = WindowChoicesField()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        unit: Unit = attrs["unit"]
        check_doors_named(attrs.get("windows", {}), set(unit.unit_doors.values_list("lock_id", flat=True)))
        return attrs


class ChangeDatesSerializer(StayDatesSerializer):
    apply = serializers.BooleanField(
        default=False, help_text="False (the default): only say what would happen on each door. True: do it."
    )
    windows = WindowChoicesField()


class ReservationFilterSerializer(serializers.Serializer[Any]):
    """The reservation list's query string."""

    unit = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    arrival_from = serializers.DateField(required=False)
    arrival_to = serializers.DateField(required=False)
    state = serializers.ChoiceField(choices=CODE_STATES, required=False, help_text="The codes' state.")
    stay = serializers.ChoiceField(
        choices=StayFilter.choices, required=False, help_text="Where the stay stands today, by its site's date."
    )
    external_id = serializers.CharField(required=False, max_length=255)
    sort = serializers.ChoiceField(choices=ReservationSort.choices, required=False)
