"""Seam's per-door create budget: 10 creates a minute per door (``SEAM_CREATES_PER_WINDOW`` per
``SEAM_CREATE_WINDOW_SECONDS``), kept with a margin, shared by every worker through the database.

Every create call sent is a ``SeamCreateCall`` row; a worker books one under the door's row lock
before it calls Seam, and writes when the call came back. A call's minute is timed from its
answer, not its booking: a worker may wait seconds for a core between the two, and Seam counts
the call when it arrives, which is no later than its answer. With the budget spent, the code goes
back to pending, due when its turn comes: codes already in the door's line take the places that
free up first, in the order they joined it, so a backfill of hundreds of codes on one door wakes
each about once, not all of them every window, and one that wakes early keeps its place.
"""

import bisect
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F

from codes.history import record
from codes.models import AccessCode, AccessCodeEvent, SeamCreateCall
from locks.models import Lock

Status = AccessCode.Status

# Time a create call needs beyond the client timeout (connection set-up, writing the answer).
CALL_MARGIN = timedelta(seconds=15)
# Longer than one create call can take (client timeout plus margin, see CALL_MARGIN). A claim
# older than this belongs to a worker that died.
CLAIM_LEASE = timedelta(seconds=120)
# A code that finds its door's budget spent is queued again (codes.creating) with a countdown up
# to this long; a longer wait is left to the sweep (which may queue it too: only one claim wins).
REQUEUE_COUNTDOWN_MAX = timedelta(minutes=5)
# How long past its turn such a code is left to that task before the sweep queues it as well
# (the task was lost, or ran a hair early on a host whose clock is behind).
REQUEUED_GRACE = timedelta(seconds=30)
# The ledger only needs the last minute for the rate limit; a month stays for staff to read.
CREATE_LEDGER_KEPT = timedelta(days=30)


class ClaimLost(Exception):
    """Our lease ran out (a very slow worker) and another worker may own the code now."""


def create_window() -> timedelta:
    """Seam's per-door create window plus our margin, so that our hosts' clocks and Seam's can
    never make Seam count one create too many (61 s by default). Network delay and a worker
    slow to send are covered by timing each call from its answer (``_seam_counted_by``)."""
    return timedelta(seconds=settings.SEAM_CREATE_WINDOW_SECONDS + settings.SEAM_CREATE_MARGIN_SECONDS)


def create_slot_reserve(code: AccessCode, now: datetime) -> timedelta | None:
    """Book one of the door's creates for this window; returns how long to wait if none is free.

    The UPDATE on the lock row serialises concurrent bookings for one door (a row lock on
    PostgreSQL, the write lock on SQLite). On success ``create_sent`` is committed with the
    booking, before the call is made. With no place free (or the door paused after a 429) the
    code is handed back as pending, due at its turn. Raises ``ClaimLost`` when this worker's
    lease is gone or too short for the call: a slow worker must never create beside the one
    that took the code over.
    """
    per_window = settings.SEAM_CREATES_PER_WINDOW
    with transaction.atomic():
        Lock.objects.filter(pk=code.lock_id).update(creates_paused_until=F("creates_paused_until"))
        lock = Lock.objects.get(pk=code.lock_id)
        if lock.creates_paused_until and lock.creates_paused_until > now:
            return _hand_back(code, now, lock.creates_paused_until - now)
        counted = _seam_counted_by(code.lock_id, now)
        if sum(1 for at in counted if at > now - create_window()) >= per_window:
            return _hand_back(code, now, _next_turn(code, counted[-per_window:], now) - now)
        # The call must end inside our lease, or the sweeper could hand the code to another
        # worker while our create is still on its way.
        call_margin = timedelta(seconds=settings.SEAM_TIMEOUT_SECONDS) + CALL_MARGIN
        still_ours = AccessCode.objects.filter(
            pk=code.pk,
            status=Status.CREATING,
            claim_expires_at=code.claim_expires_at,
            claim_expires_at__gt=now + call_margin,
        ).update(create_sent=True, in_line_since=None)
        if not still_ours:
            raise ClaimLost
        SeamCreateCall.objects.create(lock_id=code.lock_id, access_code=code, sent_at=now)
        record(code, AccessCodeEvent.Kind.CREATE_SENT, f"Attempt {code.attempts}.")
    return None


def create_call_answered(code: AccessCode, at: datetime) -> None:
    """Write on the door's ledger that the code's create call came back at ``at`` (an answer, an
    error or a timeout), which starts its minute at Seam for the codes waiting on the door."""
    SeamCreateCall.objects.filter(access_code_id=code.pk, answered_at__isnull=True).update(answered_at=at)


def _seam_counted_by(lock_id: int, now: datetime) -> list[datetime]:
    """For each create call on the door that Seam may still count, the latest moment Seam can
    have counted it, earliest first.

    That is the call's answer. A call still on its way has no answer yet: it counts from now at
    the earliest, and from when it should come back as the door's recent calls did (the estimate
    a waiting code's turn is timed by; it checks again when it wakes). A call never answered (its
    worker died in it) counts from when its client gave up.
    """
    gave_up = timedelta(seconds=settings.SEAM_TIMEOUT_SECONDS) + CALL_MARGIN
    calls = list(
        SeamCreateCall.objects.filter(lock_id=lock_id, sent_at__gt=now - create_window() - gave_up).values_list(
            "sent_at", "answered_at"
        )
    )
    took = max((answered - sent for sent, answered in calls if answered is not None), default=timedelta(0))
    return sorted(
        answered if answered is not None else min(max(sent + took, now), sent + gave_up) for sent, answered in calls
    )


def _hand_back(code: AccessCode, now: datetime, wait: timedelta) -> timedelta:
    """Return a claimed code to pending, due in ``wait``; returns ``wait``.

    A wait the caller queues a countdown task for (up to ``REQUEUE_COUNTDOWN_MAX``) marks the
    row queued until ``REQUEUED_GRACE`` past its turn, as the sweep marks what it queues
    (``codes.sweeping``): the sweep leaves the code to that task rather than queueing a second
    one the moment it falls due, and queues it only should that task not have taken it by then.
    Raises ``ClaimLost`` when the code is no longer ours.
    """
    queued_until = now + wait + REQUEUED_GRACE if wait <= REQUEUE_COUNTDOWN_MAX else None
    handed_back = AccessCode.objects.filter(
        pk=code.pk, status=Status.CREATING, claim_expires_at=code.claim_expires_at
    ).update(
        status=Status.PENDING,
        claim_expires_at=queued_until,
        next_check_at=now + wait,
        attempts=F("attempts") - 1,
        in_line_since=code.in_line_since or now,
    )
    if not handed_back:
        raise ClaimLost
    return wait


def _next_turn(code: AccessCode, last_creates: list[datetime], now: datetime) -> datetime:
    """When the next create slot of the door that no code ahead of this one in line takes frees up.

    ``last_creates`` are when Seam counted the window's creates (``_seam_counted_by``). Slots
    free up as those age out, then a window after each (an estimate: a slot used late frees
    late). The codes ahead are those in the door's line since before this one, due by the slot;
    a code that wakes before its slot is free (its call came back later than estimated) so
    keeps its place rather than going behind the codes that joined after it. Called under the
    door's row lock.
    """
    per_window = len(last_creates)
    window = create_window()
    place = (code.in_line_since or now, code.pk)
    rows = AccessCode.objects.filter(
        lock_id=code.lock_id, status=Status.PENDING, next_check_at__gt=now, in_line_since__isnull=False
    ).exclude(pk=code.pk)
    lined_up = rows.values_list("next_check_at", "in_line_since", "pk")
    ahead = sorted(due for due, since, pk in lined_up if due and since and (since, pk) < place)
    turn = 0
    while True:
        slot = last_creates[turn % per_window] + window * (1 + turn // per_window)
        # Slots 0..turn are turn + 1 creates; the code takes one if those ahead leave one.
        if bisect.bisect_right(ahead, slot) <= turn:
            return slot
        turn += 1


def seam_create_calls_prune(*, now: datetime) -> int:
    """Delete create-ledger rows older than ``CREATE_LEDGER_KEPT``; returns how many."""
    deleted, _ = SeamCreateCall.objects.filter(sent_at__lt=now - CREATE_LEDGER_KEPT).delete()
    return deleted
