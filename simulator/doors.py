"""Per-door behaviour of the simulator: how it refuses a code, how it rounds one, how many it holds.

Seam can refuse an Oracode code two ways, and this decides which way each door does it:

- ``http_400`` (the default): the create call is answered 400 with the error type
  (``dormakaba_oracode_invalid_time_range`` for a window that matches no user level,
  ``no_space_for_access_code_on_device`` for a full door).
- ``on_code``: the create call is answered 200 and the code is stored; a moment later
  (the schedule's ``setting_after``) the code carries the error in ``errors[]``
  (``provider_issue`` for no matching level, ``no_space_for_access_code_on_device`` for a full
  door), never gets a PIN, and ``access_code.failed_to_set_on_device`` is sent with
  ``access_code_errors``.

``round_to_level`` names a user level of the door: every code the door accepts is then stored
on that level, with its check-in and check-out times on the dates asked for, as Seam does when
it rounds a window to the nearest level. ``max_active_codes_supported`` (a device property,
set on some demo doors) caps the door's live codes: at the cap the door carries Seam's
``max_access_codes_reached`` warning and refuses more.
"""

from dataclasses import dataclass
from typing import Any

REFUSAL_MODES = ("http_400", "on_code")


@dataclass
class DoorSettings:
    refusals: str = "http_400"
    round_to_level: str | None = None
    online: bool = True


def device_view(device: dict[str, Any], settings: DoorSettings, *, active_codes: int, at: str) -> dict[str, Any]:
    """The device as Seam shows it now: its live online flag, and at its cap the
    ``max_access_codes_reached`` warning with both counts (``at`` is when the cap was reached)."""
    properties = {**device["properties"], "online": settings.online}
    warnings = list(device["warnings"])
    maximum = properties.get("max_active_codes_supported")
    if isinstance(maximum, int) and active_codes >= maximum:
        warnings.append(
            {
                "warning_code": "max_access_codes_reached",
                "message": f"This device holds {active_codes} active access codes, its maximum is {maximum}.",
                "created_at": at,
                "active_access_code_count": active_codes,
                "max_active_access_code_count": maximum,
            }
        )
    return {**device, "properties": properties, "warnings": warnings}


def level_names(device: dict[str, Any]) -> set[str]:
    metadata = device["properties"].get("dormakaba_oracode_metadata") or {}
    slots = metadata.get("predefined_time_slots", [])
    return {slot["name"] for slot in slots if isinstance(slot, dict) and isinstance(slot.get("name"), str)}
