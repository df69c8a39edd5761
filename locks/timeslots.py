"""Reading an Oracode door's ``predefined_time_slots`` as Seam sends them.

Every field of a slot is optional. Slot times look like ``07:00:00[America/Los_Angeles]``
or, in newer payloads, ``15:30:00-08:00[America/Los_Angeles]``. The offset in the second
form is right for some dates only, so it is ignored: the bracketed zone decides.
"""

import re
from dataclasses import dataclass
from datetime import time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_SLOT_TIME = re.compile(
    r"^\s*(?P<h>\d{1,2}):(?P<m>\d{2})(?::(?P<s>\d{2})(?:\.\d+)?)?"
    r"(?P<offset>Z|[+-]\d{2}(?::?\d{2})?)?"
    r"\s*\[(?P<zone>[^\]]+)\]\s*$",
    # \d would take any script's digits ("٠٧:٠٠" as 07:00): Seam sends ASCII.
    re.ASCII,
)


@dataclass(frozen=True)
class SlotTime:
    wall_time: time
    zone: str


def parse_slot_time(value: object) -> SlotTime | None:
    """``"07:00:00[Europe/Paris]"`` → SlotTime(07:00, "Europe/Paris"); None when unusable.

    Unusable means: missing, not a string, malformed, out of range, or naming a zone
    that zoneinfo does not know.
    """
    if not isinstance(value, str):
        return None
    match = _SLOT_TIME.match(value)
    if match is None:
        return None
    try:
        wall = time(int(match["h"]), int(match["m"]), int(match["s"] or 0))
        ZoneInfo(match["zone"])
    except (ValueError, ZoneInfoNotFoundError, OSError):
        # OSError: a zone name that is a folder of the zone database ("America") or unreadable.
        return None
    return SlotTime(wall_time=wall, zone=match["zone"])


def slot_prefix(slot: dict[str, Any]) -> int | None:
    """The user level prefix; Seam renamed the field, so accept both names."""
    for key in ("dormakaba_oracode_user_level_prefix", "ext_dormakaba_oracode_user_level_prefix", "prefix"):
        value = slot.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def slot_timezones(time_slots: list[dict[str, Any]]) -> set[str]:
    """Every zone named in the slots' check-in and check-out times."""
    zones: set[str] = set()
    for slot in time_slots:
        if not isinstance(slot, dict):
            continue
        for key in ("check_in_time", "check_out_time"):
            parsed = parse_slot_time(slot.get(key))
            if parsed is not None:
                zones.add(parsed.zone)
    return zones


@dataclass(frozen=True)
class SlotDescription:
    """A slot in words, for staff: the admin and the doors page show these, not raw JSON."""

    name: str
    check_in: str
    check_out: str
    kind: str
    prefix: str
    usable: bool


def _slot_time_text(value: object) -> str:
    parsed = parse_slot_time(value)
    return f"{parsed.wall_time:%H:%M} {parsed.zone}" if parsed else "—"


def describe_slot(slot: dict[str, Any]) -> SlotDescription:
    usable = True
    if slot.get("is_master"):
        kind, usable = "master (not supported)", False
    elif slot.get("is_one_shot"):
        kind, usable = "one-shot (not supported)", False
    elif slot.get("is_biweekly_mode"):
        kind = "biweekly (14 nights only)"
    elif slot.get("is_24_hour"):
        kind = "daily-bound"
    else:
        kind = "hourly-bound"
    check_in, check_out = _slot_time_text(slot.get("check_in_time")), _slot_time_text(slot.get("check_out_time"))
    if "—" in (check_in, check_out):
        usable = False
    prefix = slot_prefix(slot)
    return SlotDescription(
        name=str(slot.get("name") or "(unnamed)"),
        check_in=check_in,
        check_out=check_out,
        kind=kind,
        prefix="—" if prefix is None else str(prefix),
        usable=usable,
    )


def describe_slots(time_slots: object) -> list[SlotDescription]:
    if not isinstance(time_slots, list):
        return []
    return [describe_slot(slot) for slot in time_slots if isinstance(slot, dict)]
