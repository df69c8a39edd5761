"""The subset of Seam's API the app uses, answered from the simulator's state.

Each endpoint takes the request's parameters and the current time and returns Seam's
success body, or raises ``ApiError`` carrying Seam's status and error type. Statuses are
computed from the clock on every read, so nothing runs in the background.
"""

import math
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from locks.simulator import demo
from locks.simulator.oracode import (
    Refused,
    Schedule,
    generate_pin,
    parse_instant,
    parse_rounding,
    user_level_for_window,
)
from locks.simulator.store import Store

ORACODE_DEVICE_TYPE = "dormakaba_oracode_door"
ORACODE_MANUFACTURER = "dormakaba_oracode"
RATE_LIMIT_WINDOW = timedelta(minutes=1)
# Stable event ids: the same event keeps its id (and its webhook svix-id) across restarts.
_EVENT_NAMESPACE = uuid.UUID("5e4a0000-0000-4000-8000-0000000e7e17")


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

    def __post_init__(self) -> None:
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
        devices = list(self.devices)
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
        return {"device": self._device(params.get("device_id"))}

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
        try:
            rounding = parse_rounding(params.get("max_time_rounding"))
            starts_at = parse_instant(params.get("starts_at"), "starts_at")
            ends_at = parse_instant(params.get("ends_at"), "ends_at")
            level = user_level_for_window(slots, starts_at=starts_at, ends_at=ends_at, rounding=rounding, now=now)
        except Refused as exc:
            if exc.error_type == "invalid_input":
                raise invalid_input(exc.message, exc.field) from None
            raise ApiError(400, exc.error_type, exc.message) from None

        with self.store.lock:
            taken = {code["pin"] for code in self.store.codes.values() if code["device_id"] == device["device_id"]}
            try:
                pin = generate_pin(level.prefix, taken)
            except Refused as exc:
                raise ApiError(400, exc.error_type, exc.message) from None
            setting_at, set_at, deferred = self.schedule.plan(created_at=now, starts_at=starts_at)
            record = {
                "access_code_id": str(uuid.uuid4()),
                "device_id": device["device_id"],
                "name": name,
                "starts_at": format_instant(starts_at),
                "ends_at": format_instant(ends_at),
                "created_at": format_instant(now),
                "pin": pin,
                "user_level_id": level.user_level_id,
                "user_level_name": level.name,
                "site_name": device["properties"]["dormakaba_oracode_metadata"].get("site_name"),
                "setting_at": format_instant(setting_at),
                "set_at": format_instant(set_at),
                "deferred": deferred,
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
            events = [e for e in events if e["device_id"] in device_ids]
        if code_ids:
            events = [e for e in events if e["access_code_id"] in code_ids]
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
        events: list[dict[str, Any]] = []
        for record in records:
            events.append(_event(record, "access_code.created", record["created_at"]))
            if _parse_stored(record["set_at"]) <= now:
                events.append(_event(record, "access_code.set_on_device", record["set_at"], code=record["pin"]))
        events.sort(key=lambda e: (e["occurred_at"], e["event_type"] != "access_code.created"))
        return events


_READ = frozenset({"GET", "POST"})
_WRITE = frozenset({"POST"})


def access_code_status(record: dict[str, Any], now: datetime) -> str:
    if now < _parse_stored(record["setting_at"]):
        return "unset"
    if now < _parse_stored(record["set_at"]):
        return "setting"
    return "set"


def access_code_json(record: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The code as Seam shows it at ``now``: the PIN only once it is set on the door."""
    status = access_code_status(record, now)
    pending: list[dict[str, Any]] = []
    if status == "unset" and record["deferred"]:
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
        "errors": [],
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
