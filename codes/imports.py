"""Stays that arrive on their own: from a PMS through the API, or from a channel's calendar feed.

Nobody is at a form to choose windows, so each door gets the one preselected for it, the window
closest to the unit's standard check-in and check-out times (the rule the booking form uses).
A stay that cannot get a code on every door it needs is never dropped: the reservation is
saved without codes, flagged with each door's reasons (``Reservation.attention``), shown on the
dashboard and emailed to the site's staff once. Staff then choose its codes on the reservation
page ("Create codes"), which clears the flag; so does cancelling it.

A stay is known by its ``external_id`` in its unit (a feed event's UID, a PMS's id), so the same
stay arriving again, by a retry, a second sync or another route, is the one booked before.
"""

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from codes.alerts import alert_stay_needs_attention
from codes.errors import Refused
from codes.localtime import format_date
from codes.models import AccessCode
from codes.offers import current_codes
from codes.stays import (
    attention_clear,
    reservation_book,
    reservation_change_dates,
    reservation_codes_create,
    reservation_create_flagged,
)
from codes.windows import check_stay
from properties.models import Reservation, Unit


@dataclass(frozen=True)
class Imported:
    """What an import did: the stay, its codes, whether it was booked now (False: it was known),
    and whether it needs staff (its reasons are on ``reservation.attention``)."""

    reservation: Reservation
    codes: list[AccessCode] = field(default_factory=list)
    created: bool = False

    @property
    def needs_attention(self) -> bool:
        return self.reservation.needs_attention


@transaction.atomic
def reservation_import(
    *,
    unit: Unit,
    guest_name: str,
    guest_email: str,
    arrival: date,
    departure: date,
    external_id: str,
    source: str,
    plan_keys: dict[int, str] | None = None,
    language: str = "",
    now: datetime | None = None,
) -> Imported:
    """Book a stay that arrived on its own, with the preselected window on each door unless
    ``plan_keys`` names others; returns what was done.

    A stay already booked in ``unit`` under ``external_id`` is returned as it is (the caller
    compares it). Raises ``Refused`` only for dates no stay can have (departure before arrival,
    too long, too far ahead, long past): those are bad input, not a stay to keep. Any other
    refusal (a door offering nothing, a door full, an overlap with another stay on the unit's
    own doors) saves the stay without codes and flags it for staff.
    """
    now = now or timezone.now()
    if external_id and (known := Reservation.objects.filter(unit=unit, external_id=external_id).first()):
        return Imported(reservation=known, codes=current_codes(known))
    check_stay(arrival, departure, today=now.date())
    details: dict[str, Any] = {
        "unit": unit,
        "guest_name": guest_name,
        "guest_email": guest_email,
        "arrival": arrival,
        "departure": departure,
        "source": source,
        "external_id": external_id,
        "language": language,
    }
    try:
        with transaction.atomic():
            reservation, codes, created = reservation_book(**details, plan_keys=plan_keys, now=now)
    except Refused as refusal:
        if refusal.field and refusal.field.startswith("plan_"):
            raise  # A window key the caller chose is not offered: its input, its answer.
        reservation, created = reservation_create_flagged(**details, attention=refusal.message)
        if not created:
            return Imported(reservation=reservation, codes=current_codes(reservation))
        alert_stay_needs_attention(reservation)
        return Imported(reservation=reservation, created=True)
    return Imported(reservation=reservation, codes=codes, created=created)


@transaction.atomic
def reservation_follow_dates(
    *, reservation: Reservation, arrival: date, departure: date, now: datetime | None = None
) -> Reservation:
    """Move a stay to the dates its channel now gives; returns the stay.

    A stay with codes goes through the same date-change planner as a change staff make, with
    each door's preselected plan (the one that keeps its level). A stay without codes (it
    needed attention) takes the new dates and tries for its codes again. When the change cannot
    be made, the stay keeps its dates and codes and is flagged for staff with why.
    """
    now = now or timezone.now()
    reservation = Reservation.objects.select_for_update().select_related("unit__site", "site").get(pk=reservation.pk)
    if reservation.is_cancelled or (arrival, departure) == (reservation.arrival, reservation.departure):
        return reservation
    moved = f"{format_date(arrival)} → {format_date(departure)}"
    try:
        with transaction.atomic():
            if current_codes(reservation):
                reservation, _ = reservation_change_dates(
                    reservation=reservation, arrival=arrival, departure=departure, now=now
                )
                attention_clear(reservation, resolution=_followed(reservation, moved))
                return reservation
            check_stay(arrival, departure, today=now.date())
            reservation.arrival, reservation.departure = arrival, departure
            reservation.full_clean(validate_constraints=False)
            reservation.save(update_fields=["arrival", "departure"])
    except Refused as refusal:
        _flag(reservation, f"The channel moved this stay to {moved}, and that cannot be done: {refusal.message}")
        return reservation
    try:
        with transaction.atomic():
            # Resolved with words before the codes are made (which resolves quietly); a refusal
            # rolls both back.
            attention_clear(reservation, resolution=_followed(reservation, moved))
            reservation_codes_create(reservation=reservation, now=now)
    except Refused as refusal:
        _flag(reservation, refusal.message)
    reservation.refresh_from_db()
    return reservation


def _followed(reservation: Reservation, moved: str) -> str:
    return gettext(
        "Resolved: the channel moved the stay of %(guest)s in %(unit)s to %(dates)s, and its codes followed."
    ) % {
        "guest": reservation.guest_name,
        "unit": reservation.unit.name,
        "dates": moved,
    }


def _flag(reservation: Reservation, reasons: str) -> None:
    """Put the stay on the dashboard for staff, and email them once."""
    Reservation.objects.filter(pk=reservation.pk).update(attention=reasons)
    reservation.attention = reasons
    alert_stay_needs_attention(reservation)
