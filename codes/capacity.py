"""A door's room for codes. Every code made holds a place on its Oracode lock until it ends,
whether or not its stay still stands (codes cannot be revoked): a door fills up, and warns
before it does."""

import math
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from codes.models import AccessCode
from locks.models import Lock

# Warn when this share of a door's capacity (or two codes, if more) is all that is left.
CAPACITY_WARN_SHARE = 0.1
CAPACITY_WARN_MIN = 2


def with_live_code_counts(locks: QuerySet[Lock], *, now: datetime) -> QuerySet[Lock]:
    """``locks`` annotated with ``live_codes``: how many codes hold a place on each now."""
    per_lock = (
        AccessCode.objects.live(now)
        .filter(lock=OuterRef("pk"))
        .order_by()
        .values("lock")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return locks.annotate(live_codes=Coalesce(Subquery(per_lock), 0))


@dataclass(frozen=True)
class Capacity:
    """Where a door stands against its code capacity."""

    live: int
    limit: int | None
    level: str  # "ok", "low" or "full"
    message: str

    @property
    def remaining(self) -> int | None:
        return None if self.limit is None else max(self.limit - self.live, 0)


def capacity(lock: Lock, *, live: int) -> Capacity:
    """The door's capacity state: Seam's ``max_access_codes_reached`` warning, or the smaller of
    the limit staff set and Seam's ``max_active_codes_supported`` (either may be missing)."""
    limits = [n for n in (lock.code_capacity, lock.seam_max_active_codes) if n is not None]
    limit = min(limits) if limits else None
    reached = lock.max_codes_reached
    if reached is not None:
        # Seam counts every code on the door, ours and any made elsewhere: its numbers, when
        # it sends them, say more than our count of live codes.
        counts = ""
        if reached.active is not None and reached.maximum is not None:
            counts = f" with {reached.active} active codes of {reached.maximum}"
        elif reached.maximum is not None:
            counts = f" at its maximum of {reached.maximum} active codes"
        return Capacity(
            live,
            limit,
            "full",
            f"Seam reports this door is full{counts} (max_access_codes_reached): no code can be added until "
            "one ends. Sync the doors to check again.",
        )
    if limit is None:
        return Capacity(live, None, "ok", "")
    source = " (Seam's maximum for this door)" if limit != lock.code_capacity else ""
    left = limit - live
    if left <= 0:
        return Capacity(
            live,
            limit,
            "full",
            f"{live} live codes of {limit}{source}: the door is full until one of its codes ends.",
        )
    if left <= max(CAPACITY_WARN_MIN, math.ceil(limit * CAPACITY_WARN_SHARE)):
        return Capacity(live, limit, "low", f"{live} live codes of {limit}{source}: room for only {left} more.")
    return Capacity(live, limit, "ok", "")


def door_capacity(lock: Lock, *, now: datetime | None = None) -> Capacity:
    """Where the door stands now, counting the codes that hold a place on it."""
    return capacity(lock, live=AccessCode.objects.live(now or timezone.now()).filter(lock=lock).count())


def capacity_refusal(lock: Lock, *, needed: int, now: datetime | None = None) -> str:
    """Why ``needed`` more codes cannot go on this door now; "" when they can."""
    if needed <= 0:
        return ""
    state = door_capacity(lock, now=now)
    live = state.live
    if state.level == "full":
        return f"{lock.name} has no room for another code. {state.message}"
    if state.remaining is not None and needed > state.remaining:
        return (
            f"This needs {needed} codes but {lock.name} has room for only {state.remaining} more "
            f"({live} live of {state.limit}). Codes free up as they end."
        )
    return ""
