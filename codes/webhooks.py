"""Seam's webhooks after their signature is verified: cleaned, PINs redacted, recorded once,
then acted on.

- **PINs.** ``access_code.set_on_device``, ``scheduled_on_device`` and ``deleted`` carry the PIN
  in ``code``; ``code_changed`` nests old and new PINs, ``changed`` and external-modification
  errors name them as ``{"property"|"field": "code", "from", "to"}``. Every such value is
  replaced by ``[redacted]`` before the payload is stored (the admin shows it) or logged. The
  code's own PIN comes from Seam's API, never from a webhook.
- **Text PostgreSQL refuses.** JSON may escape NUL and lone surrogates (``\\u0000``, ``\\ud800``);
  jsonb and UTF-8 refuse them. They are dropped (NUL) or replaced with U+FFFD, in keys and
  values; non-finite numbers become null.
- **Depth.** No Seam event nests deeper than a few levels; a payload deeper than ``MAX_DEPTH``
  is refused rather than walked.
- **Once.** The svix-id is unique: a redelivery is acknowledged and does nothing.
"""

import math
import re
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext

from codes.alerts import alert_code_failed, alert_code_removed, door_alert, staff_alert_raise, staff_alerts_resolve
from codes.history import record
from codes.models import AccessCode, AccessCodeEvent, StaffAlert, WebhookDelivery
from config.queueing import enqueue_on_commit
from locks.models import Lock
from properties.models import Site

Status = AccessCode.Status
AlertKind = StaffAlert.Kind

REDACTED = "[redacted]"
MAX_DEPTH = 32

# Those that make a waiting code worth asking Seam about now (a new window is checked against
# the one asked for).
WEBHOOK_REFRESH_EVENT_TYPES = {
    "access_code.set_on_device",
    "access_code.scheduled_on_device",
    "access_code.failed_to_set_on_device",
    "access_code.delay_in_setting_on_device",
    "access_code.changed",
    "access_code.time_frame_changed",
}
# Code events that go into the code's history: those, plus ``access_code.created`` (it only
# repeats what the create call's own answer stored) and a removed or deleted code (alerted;
# polling finds out what Seam says of it).
WEBHOOK_EVENT_TYPES = WEBHOOK_REFRESH_EVENT_TYPES | {
    "access_code.created",
    "access_code.removed_from_device",
    "access_code.deleted",
}
CODE_GONE_EVENT_TYPES = {"access_code.removed_from_device", "access_code.deleted"}
DOOR_GONE_EVENT_TYPES = {"device.removed", "device.deleted"}

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class PayloadRefused(ValueError):
    """A verified payload this app will not store (nested too deep); the message says why."""


def clean_text(text: str) -> str:
    """``text`` without NUL, and with U+FFFD for each lone surrogate (a Python str from JSON
    holds a surrogate only when it was unpaired)."""
    return _LONE_SURROGATE.sub("\ufffd", text.replace("\x00", ""))


def webhook_payload_clean(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload as it may be stored and logged: text cleaned, PINs redacted.

    Raises ``PayloadRefused`` for nesting deeper than ``MAX_DEPTH``.
    """
    cleaned = _clean(payload, 0)
    assert isinstance(cleaned, dict)
    return cleaned


def _clean(value: Any, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise PayloadRefused(f"the payload nests deeper than {MAX_DEPTH} levels")
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_clean(item, depth + 1) for item in value]
    if not isinstance(value, dict):
        return value
    cleaned = {clean_text(key): _clean(item, depth + 1) for key, item in value.items()}
    # {"property": "code", "from": ..., "to": ...} (access_code.changed) and
    # {"field": "code", ...} (conflicting_external_modification) carry PINs without a code key.
    names_pin = cleaned.get("property") == "code" or cleaned.get("field") == "code"
    for key, item in cleaned.items():
        if item is not None and (key == "code" or (names_pin and key in ("from", "to"))):
            cleaned[key] = REDACTED
    return cleaned


def webhook_receive(*, svix_id: str, payload: dict[str, Any]) -> bool:
    """Record a verified Seam webhook and act on it; False for a redelivery.

    Code events go into the code's history; a waiting code is refreshed from Seam, or failed at
    once when a ``failed_to_set_on_device`` names its errors. A guest's code removed from its
    lock, a door disconnected or removed, and a dormakaba account disconnected alert the
    site's staff; a door or account connected again resolves its alert, and staff who were
    emailed about it are told so.
    Raises ``PayloadRefused`` (nothing recorded) for a payload nested too deep.
    """
    payload = webhook_payload_clean(payload)
    svix_id = clean_text(svix_id)
    event_type = _text(payload, "event_type")[:100]
    # Longer than any Seam id: it cannot match a code, and must not break the insert.
    seam_code_id = _text(payload, "access_code_id")[:64]
    with transaction.atomic():
        try:
            with transaction.atomic():
                WebhookDelivery.objects.create(
                    svix_id=svix_id, event_type=event_type, seam_access_code_id=seam_code_id, payload=payload
                )
        except IntegrityError:
            return False
        if event_type in WEBHOOK_EVENT_TYPES and seam_code_id:
            codes = AccessCode.objects.select_related("lock__site", "reservation")
            code = codes.filter(seam_access_code_id=seam_code_id).first()
            if code is not None:
                _code_event(code, event_type, payload)
        if event_type.startswith("device."):
            _door_event(event_type, payload)
        _account_event(event_type, payload)
    return True


def _code_event(code: AccessCode, event_type: str, payload: dict[str, Any]) -> None:
    from codes.tasks import access_code_refresh_task

    record(code, AccessCodeEvent.Kind.WEBHOOK, event_type)
    errors = _dicts(payload.get("access_code_errors"))
    if event_type == "access_code.failed_to_set_on_device" and errors and code.status == Status.WAITING:
        _fail_from_event(code, errors)
    elif event_type in CODE_GONE_EVENT_TYPES:
        # A code that ended, was replaced or belongs to a cancelled stay is not missed.
        if code.is_current and code.ends_at > timezone.now() and code.reservation.cancelled_at is None:
            alert_code_removed(code, event_type)
    elif code.status == Status.WAITING and event_type in WEBHOOK_REFRESH_EVENT_TYPES:
        # Seam's word is fetched fresh rather than trusted from the payload. The planned check
        # stays as it is: the fallback should this task be lost.
        enqueue_on_commit(access_code_refresh_task, code.pk)


def _fail_from_event(code: AccessCode, errors: list[dict[str, Any]]) -> None:
    """Seam says the code cannot be set, and why: fail it now rather than at the next check.

    Conditional on the code still waiting: a refresh that stored Seam's answer first wins.
    """
    first = errors[0]
    error_type = str(first.get("error_code") or "failed_to_set_on_device")[:100]
    message = str(first.get("message") or "")
    failed = AccessCode.objects.filter(pk=code.pk, status=Status.WAITING).update(
        status=Status.FAILED,
        next_check_at=None,
        claim_expires_at=None,
        errors=errors,
        last_error_type=error_type,
        last_error_message=message,
        updated_at=timezone.now(),
    )
    if failed:
        code.status, code.last_error_type, code.last_error_message = Status.FAILED, error_type, message
        record(code, AccessCodeEvent.Kind.FAILED, f"Seam could not set the code on the lock: {error_type}: {message}")
        alert_code_failed(code)


def _door_event(event_type: str, payload: dict[str, Any]) -> None:
    device_id = _text(payload, "device_id")
    lock = Lock.objects.select_related("site").filter(seam_device_id=device_id).first() if device_id else None
    if lock is None:
        return
    if event_type == "device.connected":
        staff_alerts_resolve(
            keys=Q(key=f"{AlertKind.DOOR_DISCONNECTED}:{lock.pk}"),
            resolution=gettext("Resolved: Seam reports %(door)s connected again.") % {"door": lock.name},
        )
    elif event_type == "device.disconnected":
        why = _text(payload, "error_code")
        door_alert(
            lock=lock,
            kind=AlertKind.DOOR_DISCONNECTED,
            message=(
                f"Seam reports {lock.name} disconnected{f' ({why})' if why else ''}. Codes already issued keep "
                "working, but Seam may not issue new ones for this door until it is connected again."
            ),
        )
    elif event_type in DOOR_GONE_EVENT_TYPES:
        door_alert(
            lock=lock,
            kind=AlertKind.DOOR_REMOVED,
            message=(
                f"Seam reports {lock.name} {event_type.removeprefix('device.')} from the dormakaba account. No new "
                "codes can be made for it; codes already issued keep working until they end."
            ),
        )


def _account_event(event_type: str, payload: dict[str, Any]) -> None:
    account_id = _text(payload, "connected_account_id")
    if not account_id:
        return
    key_prefix = f"{AlertKind.ACCOUNT_DISCONNECTED}:{account_id}:"
    if event_type == "connected_account.connected":
        staff_alerts_resolve(
            keys=Q(key__startswith=key_prefix),
            resolution=gettext(
                "Resolved: Seam is connected to the dormakaba account again; new codes can be made for its doors."
            ),
        )
        return
    errors = _dicts(payload.get("connected_account_errors"))
    sites_lost = [e for e in errors if e.get("error_code") == "dormakaba_sites_disconnected"]
    if event_type != "connected_account.disconnected" and not sites_lost:
        return
    why = f" (dormakaba_sites_disconnected: {sites_lost[0].get('message') or 'no details'})" if sites_lost else ""
    for site in Site.objects.filter(locks__seam_connected_account_id=account_id).distinct():
        staff_alert_raise(
            site=site,
            kind=AlertKind.ACCOUNT_DISCONNECTED,
            key=f"{key_prefix}{site.pk}",
            message=(
                f"Seam has lost its connection to the dormakaba account of {site.name}{why}. No new codes can be "
                "made for its doors until an administrator reconnects the account in Seam's console."
            ),
        )


def _text(payload: dict[str, Any], key: str) -> str:
    value = payload.get(key)
    return value if isinstance(value, str) else ""


def _dicts(value: object) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []
