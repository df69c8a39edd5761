"""Following a code at Seam until it is set: what Seam says of it, stored; when to ask again.

An offline Oracode code may stay ``unset`` until about an hour before it starts (Seam programs
it then), so the next check lives on the row (``next_check_at``) and the beat's sweep queues
what is due (:mod:`codes.sweeping`); webhooks make a code current at once (:mod:`codes.webhooks`).

Polling goes one ``/access_codes/list`` per door. Asking for each due code with
``/access_codes/get`` costs one call per code per check; the sweep instead groups the due codes
by door, and a door with several due is asked once for its list. That answer is stored for each
due code, and for any other code of the door still waiting that it shows set, which spares that
code its own later check. A due code missing from the list is never failed for it (a list may
lag or be cut short): it is refreshed on its own with a get, which knows whether Seam lost the
code. A failed list call falls back to the per-code path, where each code records its error.
"""

import random
from collections import defaultdict
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from codes.alerts import (
    alert_code_failed,
    alert_window_mismatch,
    code_not_set_resolve,
    seam_window_mismatch,
    window_asked,
)
from codes.history import record
from codes.models import AccessCode, AccessCodeEvent
from locks.seam import SeamAccessCode, SeamClient, SeamError, SeamPermanentError, seam_client_from_settings

Status = AccessCode.Status
Kind = AccessCodeEvent.Kind

# Seam programs an offline code about an hour before it starts: check often from just before.
SEAM_SETS_BEFORE_START = timedelta(minutes=65)
MAX_CHECK_INTERVAL = timedelta(hours=6)
NEAR_START_CHECK_INTERVAL = timedelta(minutes=2)
MAX_RETRY_DELAY = timedelta(minutes=30)


def retry_delay(attempt: int, retry_after: float | None = None) -> timedelta:
    """Exponential backoff with full jitter, never shorter than Seam's Retry-After."""
    base = min(MAX_RETRY_DELAY.total_seconds(), 15 * 2 ** max(attempt - 1, 0))
    delay = random.uniform(base / 2, base)  # noqa: S311 - jitter, not cryptography
    if retry_after is not None:
        delay = max(delay, retry_after)
    return timedelta(seconds=delay)


def next_check_time(*, starts_at: datetime, checks: int, now: datetime) -> datetime:
    """When to ask Seam about a code that is not set yet.

    Soon after creation (to catch errors early), then backing off, capped so that a check
    always lands just before Seam programs the code (an hour before it starts), then often.
    """
    if checks == 0:
        return now + timedelta(seconds=settings.CODES_FIRST_CHECK_SECONDS)
    near_start = starts_at - SEAM_SETS_BEFORE_START
    if now >= near_start:
        return now + NEAR_START_CHECK_INTERVAL
    # Capped in seconds before it becomes a timedelta: 30 * 2**checks overflows timedelta
    # after about 40 checks, which six-hourly checks of a code booked weeks ahead reach.
    step = timedelta(seconds=min(30 * 2**checks, MAX_CHECK_INTERVAL.total_seconds()))
    return min(now + step, near_start)


def apply_seam_state(code: AccessCode, seam_code: SeamAccessCode, now: datetime) -> None:
    """Store what Seam says of the code: a ``set`` code with its PIN ends the follow-up, and so
    does an error on the code, which fails it at once.

    Seam answered, so an earlier timeout or 5xx no longer describes the code (the events keep
    it). An error Seam puts on a code it accepted (``provider_issue``,
    ``no_space_for_access_code_on_device``, ...) means dormakaba will not issue it: following it
    until its window ends would hide that until the guest stands at the door. Warnings
    (``delay_in_setting_on_device``) do not fail it. What Seam made is checked against what was
    asked (Seam rounds to the nearest user level); a difference is recorded and alerted, never
    silent. A code set after staff were alerted that it was not resolves that alert.
    """
    was_set = code.status == Status.SET
    _copy_answer(code, seam_code)
    _decide_status(code, seam_code, now)
    mismatch = seam_window_mismatch(code, seam_code)
    new_mismatch = bool(mismatch) and mismatch != code.seam_window_mismatch
    if new_mismatch:
        code.seam_window_mismatch = mismatch
    code.save()
    if code.status == Status.SET and not was_set:
        record(code, Kind.SET, "Seam reports the code set on the lock system.")
        # Late after all, but set: staff who were told it was not hear that it is.
        code_not_set_resolve(code)
    elif code.status == Status.FAILED and seam_code.errors:
        record(
            code, Kind.FAILED, f"Seam reports an error on the code: {code.last_error_type}: {code.last_error_message}"
        )
        alert_code_failed(code)
    elif code.status == Status.FAILED:
        record(code, Kind.FAILED, code.last_error_message)
    if new_mismatch:
        record(code, Kind.WINDOW_MISMATCH, f"{mismatch} {window_asked(code)}")
        alert_window_mismatch(code)


def _copy_answer(code: AccessCode, seam_code: SeamAccessCode) -> None:
    code.last_error_type = code.last_error_message = ""
    code.seam_access_code_id = seam_code.access_code_id
    code.seam_status = seam_code.status
    code.errors = seam_code.errors
    code.warnings = seam_code.warnings
    code.pending_mutations = seam_code.pending_mutations
    if seam_code.code:
        code.code = seam_code.code
    code.claim_expires_at = None
    code.create_sent = False


def _decide_status(code: AccessCode, seam_code: SeamAccessCode, now: datetime) -> None:
    """Failed on an error, set with its PIN, failed once its window ended unset, else waiting."""
    if seam_code.errors:
        first = seam_code.errors[0]
        code.status = Status.FAILED
        code.next_check_at = None
        code.last_error_type = str(first.get("error_code") or first.get("type") or "error")
        code.last_error_message = str(first.get("message") or "")
    elif seam_code.status == "set" and code.code:
        code.status = Status.SET
        code.set_at = code.set_at or now
        code.next_check_at = None
    elif code.ends_at <= now:
        code.status = Status.FAILED
        code.next_check_at = None
        code.last_error_type = "not_set_in_time"
        code.last_error_message = "The stay's window ended and Seam never reported the code as set."
    else:
        code.status = Status.WAITING
        code.next_check_at = next_check_time(starts_at=code.starts_at, checks=code.checks, now=now)


@transaction.atomic
def fail(code: AccessCode, exc: SeamError) -> None:
    """Seam refused the code for good (a 4xx): fail it and alert the site's staff."""
    AccessCode.objects.filter(pk=code.pk).update(
        status=Status.FAILED,
        create_sent=False,
        claim_expires_at=None,
        next_check_at=None,
        last_error_type=exc.error_type,
        last_error_message=exc.message,
    )
    code.status, code.last_error_type, code.last_error_message = Status.FAILED, exc.error_type, exc.message
    record(code, Kind.FAILED, str(exc))
    alert_code_failed(code)


def access_code_refresh(*, access_code_id: int, client: SeamClient | None = None) -> AccessCode:
    """Ask Seam where the code stands and store it; returns the row.

    Only codes waiting for the lock system are refreshed. A transient error moves the next
    check back; a permanent one (Seam no longer knows the code) fails it.
    """
    now = timezone.now()
    code = AccessCode.objects.select_related("lock").get(pk=access_code_id)
    if code.status != Status.WAITING or not code.seam_access_code_id:
        return code
    client = client or seam_client_from_settings()
    try:
        seam_code = client.get_access_code(code.seam_access_code_id)
    except SeamPermanentError as exc:
        fail(code, exc)
        return AccessCode.objects.get(pk=code.pk)
    except SeamError as exc:
        AccessCode.objects.filter(pk=code.pk, status=Status.WAITING).update(
            next_check_at=now + retry_delay(code.checks + 1, exc.retry_after),
            last_error_type=exc.error_type,
            last_error_message=exc.message,
        )
        return AccessCode.objects.get(pk=code.pk)
    return access_code_store_check(access_code_id=access_code_id, seam_code=seam_code)


def access_code_store_check(*, access_code_id: int, seam_code: SeamAccessCode) -> AccessCode:
    """Store Seam's answer about a waiting code (from a get or a door's list); returns the row.

    Counts as one status check. Does nothing unless the code is still waiting and the answer
    is about the Seam code it holds.
    """
    with transaction.atomic():
        code = AccessCode.objects.select_for_update().select_related("lock").get(pk=access_code_id)
        if code.status != Status.WAITING or code.seam_access_code_id != seam_code.access_code_id:
            return code
        code.checks += 1
        previous = code.seam_status
        apply_seam_state(code, seam_code, timezone.now())
        if previous != code.seam_status and code.status == Status.WAITING:
            record(code, Kind.STATUS, f"Seam status {code.seam_status}.")
    return code


def access_codes_by_door(access_code_ids: list[int]) -> dict[int, list[int]]:
    """The given codes grouped by door: lock id -> code ids, in id order."""
    doors: dict[int, list[int]] = defaultdict(list)
    rows = AccessCode.objects.filter(pk__in=access_code_ids).order_by("pk").values_list("lock_id", "pk")
    for lock_id, pk in rows:
        doors[lock_id].append(pk)
    return dict(doors)


def access_codes_refresh_door(
    *, lock_id: int, access_code_ids: list[int], client: SeamClient | None = None
) -> list[AccessCode]:
    """Refresh the due waiting codes of one door with a single list call; returns those rows.

    Codes no longer waiting (a webhook got there first) are skipped. One due code is asked for
    with a get, which is cheaper than listing a busy door. Seam errors never escape.
    """
    codes = list(
        AccessCode.objects.select_related("lock")
        .filter(pk__in=access_code_ids, lock_id=lock_id, status=Status.WAITING)
        .exclude(seam_access_code_id="")
        .order_by("pk")
    )
    if not codes:
        return []
    client = client or seam_client_from_settings()
    if len(codes) == 1:
        return [access_code_refresh(access_code_id=codes[0].pk, client=client)]
    try:
        listed = client.list_access_codes(codes[0].lock.seam_device_id)
    except SeamError:
        return [access_code_refresh(access_code_id=code.pk, client=client) for code in codes]
    at_seam = {seam_code.access_code_id: seam_code for seam_code in listed}

    refreshed: list[AccessCode] = []
    for code in codes:
        seam_code = at_seam.get(code.seam_access_code_id)
        if seam_code is None:
            refreshed.append(access_code_refresh(access_code_id=code.pk, client=client))
        else:
            refreshed.append(access_code_store_check(access_code_id=code.pk, seam_code=seam_code))
    _store_others_set(lock_id, exclude=[code.pk for code in codes], at_seam=at_seam)
    return refreshed


def _store_others_set(lock_id: int, *, exclude: list[int], at_seam: dict[str, SeamAccessCode]) -> None:
    """The rest of the door came with the list: a code it shows set needs no check of its own."""
    others = (
        AccessCode.objects.filter(lock_id=lock_id, status=Status.WAITING)
        .exclude(pk__in=exclude)
        .exclude(seam_access_code_id="")
        .values_list("pk", "seam_access_code_id")
    )
    for pk, seam_access_code_id in others:
        seam_code = at_seam.get(seam_access_code_id)
        if seam_code is not None and seam_code.status == "set" and seam_code.code:
            access_code_store_check(access_code_id=pk, seam_code=seam_code)
