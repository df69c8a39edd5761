"""Reads for the staff pages: every query that takes a person is limited to the sites they may see."""

from datetime import date, datetime

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from codes.capacity import with_live_code_counts
from codes.models import AccessCode, AccessCodeEvent, StaffAlert, walking_order
from locks.models import Lock
from properties.models import Reservation, Site, UnitDoor
from properties.selectors import sites_for_user

User = AbstractBaseUser | AnonymousUser


# A unit's doors in the order a guest walks through them, with their locks.
_UNIT_DOORS_IN_ORDER = Prefetch(
    "unit__unit_doors", queryset=UnitDoor.objects.select_related("lock").order_by("position", "pk")
)


def _codes_newest_first(*, with_history: bool = False) -> QuerySet[AccessCode]:
    """Codes newest first, each with its emails (and its events, for the history page)."""
    codes = AccessCode.objects.order_by("-created_at").select_related("lock").prefetch_related("emails")
    if with_history:
        events = AccessCodeEvent.objects.select_related("user").order_by("-at", "-pk")
        codes = codes.prefetch_related(Prefetch("events", queryset=events))
    return codes


def access_code_for_user(*, user: User, pk: int) -> AccessCode:
    """One code, if it belongs to one of the person's sites; 404 otherwise."""
    visible = AccessCode.objects.filter(reservation__site__in=sites_for_user(user=user))
    return get_object_or_404(visible.select_related("reservation__site", "lock"), pk=pk)


def access_code_with_history(*, pk: int) -> AccessCode:
    """One code with its emails and its history newest first, as the reservation's page shows it."""
    return _codes_newest_first(with_history=True).select_related("reservation__site", "lock").get(pk=pk)


def is_stay_lead(code: AccessCode) -> bool:
    """Whether ``code`` is its stay's first current code: the one that carries the stay's email,
    which lists every current code (one email per stay, not one per code of a chain)."""
    current = AccessCode.objects.current().filter(reservation_id=code.reservation_id)
    in_order = walking_order(current, code.reservation.unit)
    return bool(in_order) and in_order[0].pk == code.pk


def reservation_for_user(*, user: User, pk: int) -> Reservation:
    """One reservation with its codes, their emails and history, if on the person's sites; 404 otherwise."""
    visible = Reservation.objects.filter(site__in=sites_for_user(user=user)).select_related("site", "unit")
    return get_object_or_404(
        visible.prefetch_related(
            Prefetch("access_codes", queryset=_codes_newest_first(with_history=True)), _UNIT_DOORS_IN_ORDER
        ),
        pk=pk,
    )


def reservations_for_user(
    *,
    user: User,
    site_id: int | None = None,
    arrival_from: date | None = None,
    arrival_to: date | None = None,
    state: str = "",
    search: str = "",
) -> QuerySet[Reservation]:
    """Reservations on the person's sites with their codes prefetched (newest first), filtered."""
    reservations = Reservation.objects.filter(site__in=sites_for_user(user=user))
    if site_id:
        reservations = reservations.filter(site_id=site_id)
    if arrival_from:
        reservations = reservations.filter(arrival__gte=arrival_from)
    if arrival_to:
        reservations = reservations.filter(arrival__lte=arrival_to)
    # Code conditions as EXISTS subqueries, not joins: a join would repeat a stay per code and
    # need DISTINCT, which makes the database compare every selected column of every row.
    codes = AccessCode.objects.filter(reservation=OuterRef("pk"))
    if state == "none":
        reservations = reservations.filter(~Exists(codes))
    elif state == "late":
        late = [AccessCode.Escalation.WARNING, AccessCode.Escalation.URGENT]
        reservations = reservations.filter(Exists(codes.filter(escalation__in=late))).exclude(
            Exists(codes.filter(status=AccessCode.Status.SET))
        )
    elif state:
        reservations = reservations.filter(Exists(codes.filter(status=state)))
    if search:
        reservations = reservations.filter(Q(guest_name__icontains=search) | Q(guest_email__icontains=search))
    return (
        reservations.select_related("site", "unit")
        .prefetch_related(Prefetch("access_codes", queryset=_codes_newest_first()), _UNIT_DOORS_IN_ORDER)
        .order_by("arrival", "guest_name", "pk")
    )


def locks_for_user(*, user: User) -> QuerySet[Lock]:
    """Doors on the person's sites, each with ``live_codes``: how many codes hold a place on it.

    An Oracode code stays on the lock until it ends, whether or not the stay still stands.
    """
    return with_live_code_counts(
        Lock.objects.filter(site__in=sites_for_user(user=user)).select_related("site").order_by("site__name", "name"),
        now=timezone.now(),
    )


def ledger_codes(*, now: datetime | None = None) -> QuerySet[AccessCode]:
    """The ledger: live codes of cancelled, shortened or moved stays, listed until acknowledged
    and expired, by door."""
    now = now or timezone.now()
    return (
        AccessCode.objects.may_exist_at_seam()
        .exclude(ledger_reason="")
        .filter(Q(ends_at__gt=now) | Q(acknowledged_at__isnull=True))
        .select_related("reservation", "lock__site", "acknowledged_by")
        .order_by("lock__site__name", "lock__name", "ends_at", "pk")
    )


def ledger_codes_for_user(*, user: User, site: Site | None = None) -> QuerySet[AccessCode]:
    """The ledger of the person's sites, or of one of them."""
    codes = ledger_codes().filter(lock__site__in=sites_for_user(user=user))
    return codes if site is None else codes.filter(lock__site=site)


def live_codes_on_door(*, lock: Lock) -> QuerySet[AccessCode]:
    """Every code that holds a place on the door now, first first."""
    return (
        AccessCode.objects.live(timezone.now())
        .filter(lock=lock)
        .select_related("reservation")
        .order_by("starts_at", "pk")
    )


def staff_alerts_for_user(*, user: User) -> QuerySet[StaffAlert]:
    """Open alerts on the person's sites, newest first.

    An alert about a code whose window has ended is left out: nothing can be done for that
    stay any more, and the dashboard is for what still can.
    """
    return (
        StaffAlert.objects.filter(site__in=sites_for_user(user=user), resolved_at__isnull=True)
        .exclude(access_code__ends_at__lte=timezone.now())
        .select_related("lock", "access_code")
        .order_by("-created_at", "-pk")
    )
