"""Filters the staff pages render codes, doors and times with."""

from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from django import forms, template
from django.forms import BoundField

from codes.alerts import AlertPage
from codes.alerts import alert_page as _alert_page
from codes.emails import code_window_text
from codes.localtime import format_local, zone_abbreviation
from codes.messages import Advice
from codes.messages import explain_error as _explain_error
from codes.models import AccessCode, StaffAlert, walking_order
from front.forms import plan_field_name
from locks.models import Lock
from locks.timeslots import SlotDescription
from locks.timeslots import describe_slots as _describe_slots
from properties.models import Reservation, Site

register = template.Library()

_BADGES = {
    AccessCode.Status.PENDING: "text-bg-secondary",
    AccessCode.Status.CREATING: "text-bg-info",
    AccessCode.Status.WAITING: "text-bg-primary",
    AccessCode.Status.SET: "text-bg-success",
    AccessCode.Status.FAILED: "text-bg-danger",
    AccessCode.Status.CANCELLED: "text-bg-light",
}


@register.filter
def alert_page(alert: StaffAlert) -> AlertPage:
    """The page that fixes the alert's problem, as its email links to it."""
    return _alert_page(alert)


@register.filter
def status_badge(code: AccessCode) -> str:
    return _BADGES.get(AccessCode.Status(code.status), "text-bg-secondary")


@register.filter
def window_display(code: AccessCode) -> str:
    """The code's window in the lock's local time, with the zone and its abbreviation(s)."""
    return code_window_text(code)


@register.filter
def site_time(instant: datetime | None, site: Site | Lock | str) -> str:
    """``Mon 30 Nov 2026 12:03 PST``: an instant as the clocks at ``site`` (a site, a door, or a
    zone name) showed it, with the zone's abbreviation (``UTC+05:45`` where the zone has only an
    offset). Staff read times where the doors are, never in UTC or the server's zone; the
    abbreviation tells PDT from PST in the hour a daylight-saving change repeats."""
    if instant is None:
        return ""
    zone_name = site if isinstance(site, str) else site.timezone
    local = instant.astimezone(ZoneInfo(zone_name))
    return f"{format_local(local, with_year=True)} {zone_abbreviation(local)}"


@register.filter
def explain_error(error_type: str) -> Advice:
    return _explain_error(error_type)


@register.filter
def current_codes(codes: Iterable[AccessCode], reservation: Reservation) -> list[AccessCode]:
    """The codes the guest holds now, door by door in walking order, first first."""
    return walking_order((c for c in codes if c.is_current), reservation.unit)


@register.filter
def codes_for_page(codes: Iterable[AccessCode], reservation: Reservation) -> list[AccessCode]:
    """The guest's current codes in the order they are used, then the rest, newest first."""
    codes = list(codes)
    rest = sorted((c for c in codes if not c.is_current), key=lambda c: c.created_at, reverse=True)
    return current_codes(codes, reservation) + rest


@register.filter
def leads(code: AccessCode, current: list[AccessCode]) -> bool:
    """Whether ``code`` is the first of the stay's current codes (``current``, from ``current_codes``):
    the one that carries the stay's email."""
    return bool(current) and current[0].pk == code.pk


@register.filter
def describe_slots(time_slots: object) -> list[SlotDescription]:
    """A door's time slots in words (name, check-in, check-out, kind)."""
    return _describe_slots(time_slots)


@register.filter
def door_field(form: forms.BaseForm, lock: Lock) -> BoundField | None:
    """The form's choice for one door (``plan_<lock id>``); None when the door offers nothing."""
    name = plan_field_name(lock)
    return form[name] if name in form.fields else None
