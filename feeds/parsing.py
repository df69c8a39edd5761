"""Reading a channel's iCal export: which events are stays, with their dates and a guest name.

What the channels really send (the test data in ``tests/feeds/data`` is shaped on them):

- **Airbnb**: ``SUMMARY:Reserved`` for a booking, with the reservation code in the
  description's ``Reservation URL: https://www.airbnb.com/hosting/reservations/details/HM…``
  and no guest name; ``SUMMARY:Airbnb (Not available)`` for dates the host blocked.
- **Vrbo**: ``SUMMARY:Reserved - <guest name>`` for a booking, ``SUMMARY:Blocked`` otherwise.
- **Booking.com**: ``SUMMARY:CLOSED - Not available`` for every closed date, booked or not: its
  export does not tell a booking from a closure, so nothing in it is a stay.

Dates are all-day (``VALUE=DATE``): the arrival and departure dates, at which the unit's
standard times apply. A date-time is read as the date it falls on in its own zone.
"""

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from icalendar import Calendar

from codes.errors import Refused

# Summaries of dates that are closed, not booked: "Not available", "Airbnb (Not available)",
# "Blocked", "CLOSED - Not available", "Unavailable", "Owner block".
_BLOCKED = re.compile(r"not available|unavailable|\bblocked\b|\bclosed\b|owner block", re.IGNORECASE)
# Summaries that say "booked" and name nobody.
_NAMELESS = re.compile(r"^\s*(reserved|reservation|booked|booking|occupied)?\s*[-–:]?\s*$", re.IGNORECASE)
_RESERVED_PREFIX = re.compile(r"^\s*(reserved|booked|reservation)\s*[-–:]\s*", re.IGNORECASE)
# A reservation code in a description: Airbnb's "…/reservations/details/HMABC123", or a
# "Reservation ID: 123" / "Booking code: X" line.
_CODE_IN_URL = re.compile(r"/reservations?/(?:details/)?([A-Z0-9]{6,})", re.IGNORECASE)
_CODE_LINE = re.compile(r"(?:reservation|booking|confirmation)\s*(?:id|code|number|#)\s*[:#]\s*([A-Z0-9-]{4,})", re.I)

CHANNEL_NAMES = {"airbnb": "Airbnb", "vrbo": "Vrbo", "booking": "Booking.com", "other": "Channel"}


@dataclass(frozen=True)
class FeedEvent:
    """One event of a feed: a stay (``blocked`` False) or closed dates."""

    uid: str
    arrival: date
    departure: date
    guest_name: str
    blocked: bool


def parse_feed(body: bytes, *, channel: str = "") -> list[FeedEvent]:
    """The events of an iCal body, in the order given; raises ``Refused`` when the body is not an
    iCal calendar. Cancelled events and events without a UID or a start are left out: a
    cancelled booking is one the feed no longer lists. So are tentative ones (Vrbo lists
    unconfirmed requests as ``STATUS:TENTATIVE``): an Oracode code can never be taken back, so
    a stay gets one once it is confirmed."""
    if b"BEGIN:VCALENDAR" not in body[:2048].upper():
        raise Refused("The address did not answer with an iCal calendar (no BEGIN:VCALENDAR). Check the export link.")
    try:
        calendar = Calendar.from_ical(body)
    except ValueError as exc:
        raise Refused(f"The calendar could not be read: {str(exc)[:200]}") from exc
    events = []
    for component in calendar.walk("VEVENT"):
        if str(component.get("STATUS", "")).upper() in {"CANCELLED", "TENTATIVE"}:
            continue
        uid = str(component.get("UID", "")).strip()
        start = _day(component.get("DTSTART"))
        if not uid or start is None:
            continue
        end = _day(component.get("DTEND"))
        if end is None:
            duration = component.get("DURATION")
            end = start + (duration.dt if duration is not None else timedelta(days=1))
        if end <= start:
            end = start + timedelta(days=1)
        summary = str(component.get("SUMMARY", "")).strip()
        description = str(component.get("DESCRIPTION", "")).strip()
        blocked = bool(_BLOCKED.search(summary))
        name = "" if blocked else guest_name(summary, description, channel=channel or _channel_in(uid, description))
        events.append(FeedEvent(uid=uid[:255], arrival=start, departure=end, guest_name=name, blocked=blocked))
    return events


def guest_name(summary: str, description: str, *, channel: str) -> str:
    """The guest's name where the channel gives one (Vrbo's "Reserved - Jane Doe", a PMS's plain
    name), else "<Channel> guest" with the reservation code found in the description."""
    if not _NAMELESS.match(summary):
        name = _RESERVED_PREFIX.sub("", summary).strip()
        if name:
            return name[:200]
    found = _CODE_IN_URL.search(description) or _CODE_LINE.search(description)
    label = f"{CHANNEL_NAMES.get(channel, 'Channel')} guest"
    return f"{label} {found.group(1)}" if found else label


def _channel_in(uid: str, description: str) -> str:
    """The channel an event names (its UID's domain, a link in its description), for a feed
    whose channel is not known from its address."""
    text = f"{uid} {description}".lower()
    for channel, mark in (("airbnb", "airbnb."), ("vrbo", "vrbo."), ("vrbo", "homeaway."), ("booking", "booking.com")):
        if mark in text:
            return channel
    return "other"


def _day(prop: Any) -> date | None:
    if prop is None:
        return None
    value = prop.dt
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else None
