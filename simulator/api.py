"""The subset of Seam's API the app uses, answered from the simulator's state.

Longer than 400 lines on purpose: one endpoint after another, each a short method, so that
what the simulator answers for any path of Seam's is found in one place.

Each endpoint takes the request's parameters and the current time and returns Seam's
success body, or raises ``ApiError`` carrying Seam's status and error type. Statuses are
computed from the clock on every read, so nothing runs in the background. How each door
refuses, rounds and counts codes is in ``doors``.
"""

import copy
import math
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from simulator import demo
from simulator.doors import REFUSAL_MODES, DoorSettings, device_view, level_names
from simulator.oracode import (
    Refused,
    Schedule,
    UserLevel,
    generate_pin,
    parse_instant,
    parse_rounding,
    user_level_for_window,
    window_on_level,
)
from simulator.store import Store

ORACODE_DEVICE_TYPE = "dormakaba_oracode_door"
ORACODE_MANUFACTURER = "dormakaba_oracode"
RATE_LIMIT_WINDOW = timedelta(minutes=1)
# Stable event ids: the same event keeps its id (and its webhook svix-id) across restarts.
_EVENT_NAMESPACE = uuid.UUID("5e4a0000-0000-4000-8000-0000000e7e17")
# Events a test (or a demo) can make the simulator send, as Seam would on its own.
EMITTABLE_EVENTS = (
    "access_code.removed_from_device",
    "access_code.deleted",
    "device.connected",
    "device.disconnected",
    "device.removed",
    "device.deleted",
    "connected_account.connected",
    "connected_account.disconnected",
)
# The issue lists Seam's failure events carry (``*_event_issue_properties`` in Seam's types).
_ISSUE_LISTS = (
    "connected_account_errors",
    "connected_account_warnings",
    "device_errors",
    "device_warnings",
    "access_code_errors",
    "access_code_warnings",
)


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        error_type: str,
        message: str,
        *,
        validation_errors: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message
        self.validation_errors = validation_errors
        self.headers = headers or {}

    def body(self, request_id: str) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.error_type, "message": self.message, "request_id": request_id}
        if self.validation_errors:
            error["validation_errors"] = self.validation_errors
        return {"error": error, "ok": False}


def invalid_input(message: str, field: str | None = None) -> ApiError:
    errors = {field: {"_errors": [message]}} if field else None
    return ApiError(400, "invalid_input", message, validation_errors=errors)


def format_instant(instant: datetime) -> str:
    """Seam's UTC form: ``2024-09-10T14:00:00.000Z``."""
    utc = instant.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _parse_stored(value: str) -> datetime:
    return datetime.fromisoformat(value)


@dataclass
class SeamApi:
    store: Store
    schedule: Schedule
    devices: list[dict[str, Any]] = field(default_factory=demo.demo_devices)
    rate_limit: int = 10
    # Seam's window is a minute; benchmarks scale it down so an hour of backfill takes a minute.
    rate_limit_window: timedelta = RATE_LIMIT_WINDOW
    # How every door refuses a code until configured otherwise: "http_400" or "on_code".
    refusals: str = "http_400"

    def __post_init__(self) -> None:
        if self.refusals not in REFUSAL_MODES:
            raise ValueError(f"refusals must be one of {', '.join(REFUSAL_MODES)}")
        self._original_devices = copy.deepcopy(self.devices)
        self._door_settings: dict[str, DoorSettings] = {}
        self._devices_by_id = {device["device_id"]: device for device in self.devices}
        self.routes: dict[str, tuple[frozenset[str], Callable[[dict[str, Any], datetime], dict[str, Any]]]] = {
            "/devices/list": (_READ, self.devices_list),
            "/devices/get": (_READ, self.devices_get),
            "/access_codes/create": (_WRITE, self.access_codes_create),
            "/access_codes/get": (_READ, self.access_codes_get),
            "/access_codes/list": (_READ, self.access_codes_list),
            "/access_codes/update": (_WRITE, self.access_codes_update),
            "/access_codes/delete": (_WRITE, self.access_codes_delete),
            "/events/list": (_READ, self.events_list),
        }

    def call(self, method: str, path: str, params: dict[str, Any], now: datetime) -> dict[str, Any]:
        """Seam's success body for this request; raises ``ApiError``."""
        route = self.routes.get(path.rstrip("/") or "/")
        if route is None:
            raise ApiError(404, "not_found", f"no endpoint at {path}")
        methods, endpoint = route
        if method not in methods:
            raise ApiError(405, "method_not_allowed", f"{path} accepts {' or '.join(sorted(methods))} only")
        return {**endpoint(params, now), "ok": True}

    # Devices

    def devices_list(self, params: dict[str, Any], now: datetime) -> dict[str, Any]:
        devices = [self._device_view(device, now) for device in self.devices]
        manufacturer = params.get("manufacturer")
        if manufacturer is not None:
            devices = [d for d in devices if d["properties"].get("manufacturer") == manufacturer]
        device_types = _str_list(params.get("device_types")) + _str_list(params.get("device_type"))
        if device_types:
            devices = [d for d in devices if d["device_type"] in device_types]
        device_ids = _str_list(params.get("device_ids"))
        if device_ids:
            devices = [d for d in devices if d["device_id"] in device_ids]
        return {"devices": devices}

    def devices_get(self, params: dict[str, Any], now: datetime) -> dict[str, Any]:
        return {"device": self._device_view(self._device(params.get("device_id")), now)}

    def _device_view(self, device: dict[str, Any], now: datetime) -> dict[str, Any]:
        with self.store.lock:
            live = self._live_codes(device["device_id"], now)
            at = max((r["created_at"] for r in live), default=format_instant(now))
            return device_view(device, self.door_settings(device["device_id"]), active_codes=len(live), at=at)

    def _live_codes(self, device_id: str, now: datetime) -> list[dict[str, Any]]:
        """The door's codes that hold a place on it now: accepted and not ended. Under store.lock."""
        return [
            r
            for r in self.store.codes.values()
            if r["device_id"] == device_id and not r.get("error") and _parse_stored(r["ends_at"]) > now
        ]

    # Per-door behaviour (see ``doors``)

    def door_settings(self, device_id: str) -> DoorSettings:
        with self.store.lock:
            return self._door_settings.setdefault(device_id, DoorSettings(refusals=self.refusals))

    def configure_door(self, device_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Change how one door behaves; returns its settings. Keys: ``refusals`` ("http_400" or
        "on_code"), ``round_to_level`` (a level's name, or None to stop rounding) and
        ``max_active_codes_supported`` (a count, or None for no cap).

        Raises ``KeyError`` for an unknown device, ``ValueError`` for anything else wrong.
        """
        device = self._devices_by_id[device_id]
        unknown = set(changes) - {"refusals", "round_to_level", "max_active_codes_supported"}
        if unknown:
            raise ValueError(f"unknown door settings: {', '.join(sorted(unknown))}")
        refusals = changes.get("refusals", self.door_settings(device_id).refusals)
        if refusals not in REFUSAL_MODES:
            raise ValueError(f"refusals must be one of {', '.join(REFUSAL_MODES)}")
        level = changes.get("round_to_level", self.door_settings(device_id).round_to_level)
        if level is not None and level not in level_names(device):
            raise ValueError(f"the door has no user level called {level!r}")
        maximum = changes.get("max_active_codes_supported", device["properties"].get("max_active_codes_supported"))
        if maximum is not None and (isinstance(maximum, bool) or not isinstance(maximum, int) or maximum < 0):
            raise ValueError("max_active_codes_supported must be a whole number, or null for no cap")
        with self.store.lock:
            settings = self.door_settings(device_id)
            settings.refusals, settings.round_to_level = refusals, level
            if maximum is None:
                device["properties"].pop("max_active_codes_supported", None)
            else:
                device["properties"]["max_active_codes_supported"] = maximum
        return {
            "device_id": device_id,
            "refusals": refusals,
            "round_to_level": level,
            "max_active_codes_supported": maximum,
            "online": settings.online,
        }

    def reset_doors(self) -> None:
        """Every door back to how it started: settings, caps, online."""
        with self.store.lock:
            self._door_settings.clear()
            for device in self.devices:
                original = next(d for d in self._original_devices if d["device_id"] == device["device_id"])
                device["properties"] = copy.deepcopy(original["properties"])

    def _device(self, device_id: object) -> dict[str, Any]:
        if not isinstance(device_id, str) or not device_id:
            raise invalid_input("device_id is required", "device_id")
        device = self._devices_by_id.get(device_id)
        if device is None:
            raise ApiError(404, "device_not_found", "Device not found")
        return device

    # Access codes

    def note_request(self, path: str) -> None:
        """Count an API request by path, whatever its outcome (benchmarks count calls per code)."""
        key = path.rstrip("/") or "/"
        with self.store.lock:
            self.store.requests[key] = self.store.requests.get(key, 0) + 1

    def note_create_call(self, params: dict[str, Any]) -> None:
        """Count a create request against the device it names (tests read ``create_calls``)."""
        device_id = params.get("device_id")
        if not isinstance(device_id, str) or device_id not in self._devices_by_id:
            return
        with self.store.lock:
            self.store.create_calls[device_id] = self.store.create_calls.get(device_id, 0) + 1
            self.store.save()

    def access_codes_create(self, params: dict[str, Any], now: datetime) -> dict[str, Any]:
        device = self._device(params.get("device_id"))
        self._take_rate_limit_slot(device["device_id"], now)
        if device["device_type"] != ORACODE_DEVICE_TYPE:
            raise invalid_input("the simulator programs dormakaba Oracode doors only")
        if params.get("code") is not None:
            raise invalid_input("dormakaba Oracode generates the PIN; code cannot be set", "code")
        if params.get("is_offline_access_code") is not True:
            raise invalid_input(
                "dormakaba Oracode doors only take offline access codes: set is_offline_access_code to true",
                "is_offline_access_code",
            )
        name = params.get("name")
        if name is not None and not isinstance(name, str):
            raise invalid_input("name must be a string", "name")
        slots = device["properties"]["dormakaba_oracode_metadata"]["predefined_time_slots"]
        settings = self.door_settings(device["device_id"])
        # (error_code, message) for a code Seam takes and then fails: the door refuses "on_code".
        error: tuple[str, str] | None = None
        level: UserLevel | None = None
        try:
            rounding = parse_rounding(params.get("max_time_rounding"))
            starts_at = parse_instant(params.get("starts_at"), "starts_at")
            ends_at = parse_instant(params.get("ends_at"), "ends_at")
            level = user_level_for_window(slots, starts_at=starts_at, ends_at=ends_at, rounding=rounding, now=now)
        except Refused as exc:
            if exc.error_type == "invalid_input":
                raise invalid_input(exc.message, exc.field) from None
            if settings.refusals != "on_code":
                raise ApiError(400, exc.error_type, exc.message) from None
            # Seam's name for dormakaba refusing a window, since 2026.
            error = ("provider_issue", exc.message)
        if level is not None and settings.round_to_level:
            starts_at, ends_at, level = window_on_level(
                slots, settings.round_to_level, starts_at=starts_at, ends_at=ends_at
            )

        with self.store.lock:
            pin: str | None = None
            if error is None:
                try:
                    pin = self._room_and_pin(device, level, now)
                except Refused as exc:
                    if settings.refusals != "on_code":
                        raise ApiError(400, exc.error_type, exc.message) from None
                    error = (exc.error_type, exc.message)
            setting_at, set_at, deferred = self.schedule.plan(created_at=now, starts_at=starts_at)
            record = {
                "access_code_id": str(uuid.uuid4()),
                "device_id": device["device_id"],
                "name": name,
                "starts_at": format_instant(starts_at),
                "ends_at": format_instant(ends_at),
                "created_at": format_instant(now),
                "pin": pin,
                "user_level_id": level.user_level_id if level else None,
                "user_level_name": level.name if level else None,
                "site_name": device["properties"]["dormakaba_oracode_metadata"].get("site_name"),
                "setting_at": format_instant(setting_at),
                "set_at": format_instant(set_at),
                "deferred": deferred,
                "error": None if error is None else {"error_code": error[0], "message": error[1]},
                # dormakaba answers Seam within seconds: the error shows after setting_after.
                "failed_at": None if error is None else format_instant(now + self.schedule.setting_after),
            }
            self.store.codes[record["access_code_id"]] = record
            self.store.save()
        action_attempt = {
            "status": "pending",
            "action_type": "CREATE_ACCESS_CODE",
            "action_attempt_id": str(uuid.uuid4()),
            "result": None,
            "error": None,
        }
        return {"access_code": access_code_json(record, now), "action_attempt": action_attempt}

    def _room_and_pin(self, device: dict[str, Any], level: UserLevel | None, now: datetime) -> str:
        """A new PIN on the level; raises ``Refused`` (no space) when the door is at its cap or the
        level has no PIN left. Under store.lock."""
        maximum = device["properties"].get("max_active_codes_supported")
        live = self._live_codes(device["device_id"], now)
        if isinstance(maximum, int) and len(live) >= maximum:
            raise Refused(
                "no_space_for_access_code_on_device",
                f"the door holds {len(live)} active access codes, its maximum: no space for another",
            )
        taken = {r["pin"] for r in self.store.codes.values() if r["device_id"] == device["device_id"] and r["pin"]}
        return generate_pin(level.prefix if level else None, taken)

    def _take_rate_limit_slot(self, device_id: str, now: datetime) -> None:
        """Seam allows ``rate_limit`` creates per device per rolling ``rate_limit_window``; 429 beyond."""
        window = self.rate_limit_window
        with self.store.lock:
            recent = self.store.recent_creates.setdefault(device_id, deque())
            while recent and recent[0] <= now - window:
                recent.popleft()
            if len(recent) >= self.rate_limit:
                wait = (recent[0] + window - now).total_seconds()
                retry_after = max(1, math.ceil(wait))
                self.store.rate_limited[device_id] = self.store.rate_limited.get(device_id, 0) + 1
                raise ApiError(
                    429,
                    "rate_limited",
                    f"too many access codes created on this device: at most {self.rate_limit} "
                    f"per {window.total_seconds():g} s",
                    headers={"Retry-After": str(retry_after)},
                )
            recent.append(now)

    def access_codes_get(self, params: dict[str, Any], now: datetime) -> dict[str, Any]:
        access_code_id = params.get("access_code_id")
        if not isinstance(access_code_id, str) or not access_code_id:
            raise invalid_input("access_code_id is required", "access_code_id")
        with self.store.lock:
            record = self.store.codes.get(access_code_id)
        if record is None:
            raise ApiError(404, "not_found", "Access code not found")
        return {"access_code": access_code_json(record, now)}

    def access_codes_list(self, params: dict[str, Any], now: datetime) -> dict[str, Any]:
        device_id = params.get("device_id")
        access_code_ids = _str_list(params.get("access_code_ids"))
        if device_id is None and not access_code_ids:
            raise invalid_input("device_id or access_code_ids is required", "device_id")
        if device_id is not None:
            self._device(device_id)
        with self.store.lock:
            records = list(self.store.codes.values())
        if device_id is not None:
            records = [r for r in records if r["device_id"] == device_id]
        if access_code_ids:
            records = [r for r in records if r["access_code_id"] in access_code_ids]
        records.sort(key=lambda r: (r["created_at"], r["access_code_id"]))
        return {"access_codes": [access_code_json(r, now) for r in records]}

    def access_codes_update(self, params: dict[str, Any], now: datetime) -> dict[str, Any]:
        raise invalid_input("dormakaba Oracode codes cannot be updated")

    def access_codes_delete(self, params: dict[str, Any], now: datetime) -> dict[str, Any]:
        raise invalid_input("dormakaba Oracode codes cannot be deleted")

    # Events

    def events_list(self, params: dict[str, Any], now: datetime) -> dict[str, Any]:
        """Events so far, newest first, filtered by device, access code, type and ``since``."""
        events = self.events(now)
        device_ids = _str_list(params.get("device_id")) + _str_list(params.get("device_ids"))
        code_ids = _str_list(params.get("access_code_id")) + _str_list(params.get("access_code_ids"))
        types = _str_list(params.get("event_type")) + _str_list(params.get("event_types"))
        if device_ids:
            events = [e for e in events if e.get("device_id") in device_ids]
        if code_ids:
            events = [e for e in events if e.get("access_code_id") in code_ids]
        if types:
            events = [e for e in events if e["event_type"] in types]
        since = params.get("since")
        if since is not None:
            try:
                since_at = parse_instant(since, "since")
            except Refused as exc:
                raise invalid_input(exc.message, "since") from None
            events = [e for e in events if _parse_stored(e["occurred_at"]) >= since_at]
        events.reverse()
        limit = params.get("limit")
        if isinstance(limit, int | str) and str(limit).isdigit():
            events = events[: int(limit)]
        return {"events": events}

    def events(self, now: datetime) -> list[dict[str, Any]]:
        """Every event that has happened by ``now``, oldest first."""
        with self.store.lock:
            records = list(self.store.codes.values())
            emitted = [e for e in self.store.emitted_events if _parse_stored(e["occurred_at"]) <= now]
        events: list[dict[str, Any]] = []
        for record in records:
            events.append(_event(record, "access_code.created", record["created_at"]))
            if record.get("error"):
                if _parse_stored(record["failed_at"]) <= now:
                    issues = _issues(access_code_errors=[_code_error(record)])
                    events.append(_event(record, "access_code.failed_to_set_on_device", record["failed_at"], **issues))
            elif _parse_stored(record["set_at"]) <= now:
                events.append(_event(record, "access_code.set_on_device", record["set_at"], code=record["pin"]))
        events.extend(emitted)
        events.sort(key=lambda e: (e["occurred_at"], e["event_type"] != "access_code.created"))
        return events

    def emit_event(self, event_type: str, fields: dict[str, Any], now: datetime) -> dict[str, Any]:
        """Make Seam's event ``event_type`` happen now (it is listed and sent as a webhook); returns it.

        ``access_code.*`` events need the ``access_code_id`` of a stored code, ``device.*`` events a
        ``device_id``; other ``fields`` are added to the event as given (``error_code``,
        ``connected_account_errors``...). ``device.disconnected`` and ``device.connected`` also
        turn the door's ``online`` flag. Raises ``ValueError``.
        """
        if event_type not in EMITTABLE_EVENTS:
            raise ValueError(f"event_type must be one of {', '.join(EMITTABLE_EVENTS)}")
        at = format_instant(now)
        fields = dict(fields)
        with self.store.lock:
            if event_type.startswith("access_code."):
                record = self.store.codes.get(str(fields.pop("access_code_id", "")))
                if record is None:
                    raise ValueError("access_code_id must name a stored access code")
                event = _event(record, event_type, at)
                if event_type == "access_code.deleted":
                    event["code"] = record["pin"]
            else:
                device_id = fields.pop("device_id", None)
                event = {
                    "event_type": event_type,
                    "connected_account_id": demo.CONNECTED_ACCOUNT_ID,
                    "workspace_id": demo.WORKSPACE_ID,
                    "created_at": at,
                    "occurred_at": at,
                }
                if event_type.startswith("device."):
                    if device_id not in self._devices_by_id:
                        raise ValueError("device_id must name a device of the simulator")
                    event["device_id"] = device_id
                    if event_type in {"device.connected", "device.disconnected"}:
                        self.door_settings(str(device_id)).online = event_type == "device.connected"
                    if event_type == "device.disconnected":
                        event.update(error_code="device_disconnected", **_issues())
                    if event_type == "device.deleted":
                        event["device_name"] = self._devices_by_id[device_id]["display_name"]
                elif event_type == "connected_account.disconnected":
                    event.update(_issues())
            event["event_id"] = str(uuid.uuid4())
            event.update(fields)
            self.store.emitted_events.append(event)
        return event


def _issues(**lists: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The issue lists of a failure event, empty but for those given."""
    return {name: lists.get(name, []) for name in _ISSUE_LISTS}


def _code_error(record: dict[str, Any]) -> dict[str, Any]:
    error: dict[str, Any] = record["error"]
    return {"created_at": record["failed_at"], "message": error["message"], "error_code": error["error_code"]}


_READ = frozenset({"GET", "POST"})
_WRITE = frozenset({"POST"})


def access_code_status(record: dict[str, Any], now: datetime) -> str:
    if record.get("error"):
        # Refused: dormakaba never issues it.
        return "unset"
    if now < _parse_stored(record["setting_at"]):
        return "unset"
    if now < _parse_stored(record["set_at"]):
        return "setting"
    return "set"


def access_code_json(record: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The code as Seam shows it at ``now``: the PIN only once it is set on the door."""
    status = access_code_status(record, now)
    pending: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    if record.get("error") and _parse_stored(record["failed_at"]) <= now:
        errors.append({**_code_error(record), "is_access_code_error": True})
    elif status == "unset" and record["deferred"] and not record.get("error"):
        pending.append(
            {
                "mutation_code": "deferring_creation",
                "created_at": record["created_at"],
                "scheduled_at": record["setting_at"],
                "message": "Seam will program this offline code on the door about an hour before it starts.",
            }
        )
    elif status != "set":
        pending.append(
            {
                "mutation_code": "creating",
                "created_at": record["created_at"],
                "message": "Seam is programming this code on the door.",
            }
        )
    code = record["pin"] if status == "set" else None
    return {
        "access_code_id": record["access_code_id"],
        "device_id": record["device_id"],
        "name": record["name"],
        "code": code,
        "common_code_key": None,
        "type": "time_bound",
        "status": status,
        "starts_at": record["starts_at"],
        "ends_at": record["ends_at"],
        "created_at": record["created_at"],
        "errors": errors,
        "warnings": [],
        "pending_mutations": pending,
        "is_managed": True,
        "is_offline_access_code": True,
        "is_one_time_use": False,
        "is_external_modification_allowed": False,
        "is_backup_access_code_available": False,
        "is_waiting_for_code_assignment": code is None,
        "dormakaba_oracode_metadata": {
            "user_level_id": record["user_level_id"],
            "user_level_name": record["user_level_name"],
            "site_name": record["site_name"],
            "is_cancellable": False,
            "is_extendable": False,
            "is_early_checkin_able": False,
            "is_overridable": False,
        },
        "workspace_id": demo.WORKSPACE_ID,
    }


def _event(record: dict[str, Any], event_type: str, occurred_at: str, **extra: Any) -> dict[str, Any]:
    event_id = uuid.uuid5(_EVENT_NAMESPACE, f"{record['access_code_id']}/{event_type}")
    return {
        "event_id": str(event_id),
        "event_type": event_type,
        "access_code_id": record["access_code_id"],
        "device_id": record["device_id"],
        "connected_account_id": demo.CONNECTED_ACCOUNT_ID,
        "workspace_id": demo.WORKSPACE_ID,
        "created_at": occurred_at,
        "occurred_at": occurred_at,
        **extra,
    }


def _str_list(value: object) -> list[str]:
    """A list parameter: a JSON list, or from a query string one value or comma-separated values."""
    if isinstance(value, str):
        return [part for part in value.split(",") if part]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []
