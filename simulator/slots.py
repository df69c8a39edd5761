"""Reading a user level (one of a door's ``predefined_time_slots``) as Seam sends it.

Written apart from the app's ``locks/timeslots.py`` on purpose, and in another way: the
simulator is what the app's client and window maths are tested against, so a parsing bug the
two shared would pass every test. ``tests/simulator/test_slots.py`` holds them to agreeing.

A slot time is ``07:00:00[America/Los_Angeles]`` or, in newer payloads,
``15:30:00-08:00[America/Los_Angeles]``; the seconds may be left out. The offset is right for
part of the year only, so only its shape is checked: the zone in brackets decides.
"""

from dataclasses import dataclass
from datetime import time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# Seam renamed the ext_ field and also sends a plain ``prefix``: the first whole number wins.
PREFIX_FIELDS = ("dormakaba_oracode_user_level_prefix", "ext_dormakaba_oracode_user_level_prefix", "prefix")


@dataclass(frozen=True)
class SlotTime:
    wall_time: time
    zone: str


def parse_slot_time(value: object) -> SlotTime | None:
    """``"15:30:00-08:00[America/Los_Angeles]"`` → SlotTime(15:30, "America/Los_Angeles").

    Returns None when the value is not a string, is malformed or out of range, or names a
    zone that zoneinfo does not know.
    """
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text.endswith("]"):
        return None
    clock, bracket, zone = text[:-1].partition("[")
    if not bracket or "]" in zone or not _is_known_zone(zone):
        return None
    wall_time = _wall_time(_without_offset(clock.rstrip()))
    if wall_time is None:
        return None
    return SlotTime(wall_time=wall_time, zone=zone)


def slot_prefix(slot: dict[str, Any]) -> int | None:
    """The level's PIN prefix, or None when the slot gives none."""
    for field in PREFIX_FIELDS:
        value = slot.get(field)
        # bool is an int too, and JSON true is no prefix.
        if type(value) is int:
            return value
    return None


def _without_offset(clock: str) -> str | None:
    """``15:30:00-08:00`` → ``15:30:00``: drops a ``Z``, ``±HH``, ``±HHMM`` or ``±HH:MM`` offset.

    None when the offset is malformed.
    """
    if clock.endswith("Z"):
        return clock[:-1]
    for sign in "+-":
        head, found, offset = clock.partition(sign)
        if found:
            if len(offset) == 5 and offset[2] == ":":
                offset = offset[:2] + offset[3:]
            return head if len(offset) in (2, 4) and _is_digits(offset) else None
    return clock


def _wall_time(clock: str | None) -> time | None:
    """``H:MM``, ``HH:MM``, ``HH:MM:SS`` or ``HH:MM:SS.ffff``: fractions of a second are dropped."""
    if clock is None:
        return None
    hours, _, rest = clock.partition(":")
    minutes, has_seconds, seconds = rest.partition(":")
    if not has_seconds:
        seconds = "00"
    seconds, has_fraction, fraction = seconds.partition(".")
    if has_fraction and not _is_digits(fraction):
        return None
    if not (len(hours) in (1, 2) and len(minutes) == 2 and len(seconds) == 2):
        return None
    if not (_is_digits(hours) and _is_digits(minutes) and _is_digits(seconds)):
        return None
    try:
        return time.fromisoformat(f"{hours:0>2}:{minutes}:{seconds}")
    except ValueError:
        return None


def _is_digits(text: str) -> bool:
    # str.isdigit() alone also takes other scripts' digits and superscripts.
    return text.isascii() and text.isdigit()


def _is_known_zone(zone: str) -> bool:
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # ValueError: not a normalised relative key; OSError: a directory such as "America".
        return False
    return True
