"""Reads for the staff pages: every query that takes a person is limited to the sites they may see."""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import reduce
from operator import or_
from zoneinfo import ZoneInfo

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db import models
from django.db.models import (
    Count,
    Exists,
    F,
    OrderBy,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Window,
    prefetch_related_objects,
)
from django.db.models.functions import Lower, RowNumber
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


# What a row of a list of stays shows besides the stay: its codes (newest first) and its unit's doors.
_STAY_CODES_AND_DOORS = (Prefetch("access_codes", queryset=_codes_newest_first()), _UNIT_DOORS_IN_ORDER)


def access_code_for_user(*, user: User, pk: int) -> AccessCode:
    """One code, if it belongs to one of the person's sites; 404 otherwise."""
    visible = AccessCode.objects.filter(reservation__site__in=sites_for_user(user=user))
    return get_object_or_404(visible.select_related("reservation__site", "lock"), pk=pk)


def access_code_with_history(*, pk: int) -> AccessCode:
    """One code with its emails and its history newest first, as the reservation's page shows it."""
    return _codes_newest_first(with_history=True).select_related("reservation__site", "lock").get(pk=pk)


def stay_lead(*, reservation: Reservation) -> AccessCode | None:
    """The stay's first current code: the one that carries the stay's email, which lists every
    current code (one email per stay, not one per code of a chain); None without current codes."""
    current = AccessCode.objects.current().filter(reservation=reservation)
    return next(iter(walking_order(current, reservation.unit)), None)


def is_stay_lead(code: AccessCode) -> bool:
    """Whether ``code`` is its stay's first current code (see ``stay_lead``)."""
    lead = stay_lead(reservation=code.reservation)
    return lead is not None and lead.pk == code.pk


def reservation_for_user(*, user: User, pk: int) -> Reservation:
    """One reservation with its codes, their emails and history, if on the person's sites; 404 otherwise."""
    visible = Reservation.objects.filter(site__in=sites_for_user(user=user)).select_related("site", "unit")
    return get_object_or_404(
        visible.prefetch_related(
            Prefetch("access_codes", queryset=_codes_newest_first(with_history=True)), _UNIT_DOORS_IN_ORDER
        ),
        pk=pk,
    )


class ReservationSort(models.TextChoices):
    """How the reservation list is ordered; the query string picks one of these, never a column."""

    ARRIVAL_NEWEST = "arrival_desc", "Newest arrivals first"
    ARRIVAL = "arrival", "Arrival, earliest first"
    GUEST = "guest", "Guest name"
    BOOKED = "booked", "Recently booked"


# Each ends on the primary key: rows that tie must keep one order, or a stay could show on two
# pages of the list, or on none.
_ORDERINGS: dict[str, tuple[str | OrderBy, ...]] = {
    ReservationSort.ARRIVAL_NEWEST: ("-arrival", Lower("guest_name").asc(), "-pk"),
    ReservationSort.ARRIVAL: ("arrival", Lower("guest_name").asc(), "pk"),
    ReservationSort.GUEST: (Lower("guest_name").asc(), "arrival", "pk"),
    ReservationSort.BOOKED: ("-created_at", "-pk"),
}


class StayFilter(models.TextChoices):
    """Where a stay stands today, in its site's own time zone."""

    IN_HOUSE = "in_house", "In house now"
    ARRIVING = "arriving", "Arriving today"
    DEPARTING = "departing", "Departing today"
    CANCELLED = "cancelled", "Cancelled"


def site_today(site: Site, *, now: datetime | None = None) -> date:
    """The date at the site now, by its own clocks: a stay's dates are the site's dates."""
    return (now or timezone.now()).astimezone(ZoneInfo(site.timezone)).date()


def _stays_on(stay: str, today: date) -> Q:
    """The stays ``stay`` names on a site whose date is ``today``. A cancelled stay is nobody's
    arrival, departure or guest in the house."""
    standing = Q(cancelled_at__isnull=True)
    if stay == StayFilter.IN_HOUSE:
        # On its departure day a stay is leaving, not staying: "departing today" lists it.
        return standing & Q(arrival__lte=today, departure__gt=today)
    if stay == StayFilter.ARRIVING:
        return standing & Q(arrival=today)
    if stay == StayFilter.DEPARTING:
        return standing & Q(departure=today)
    raise ValueError(f"not a stay filter that depends on the day: {stay!r}")


def _on_each_sites_today(sites: Iterable[Site], condition: Callable[[date], Q], now: datetime) -> Q:
    """``condition`` of each site's own today, as one condition.

    Sites may sit in different time zones, and at any instant some of them are on another date
    than the others (Sydney's morning is Los Angeles' afternoon of the day before): each site is
    asked about its own date, one condition per date the sites are on.
    """
    site_ids_by_day: dict[date, list[int]] = {}
    for site in sites:
        site_ids_by_day.setdefault(site_today(site, now=now), []).append(site.pk)
    conditions = [Q(site_id__in=ids) & condition(day) for day, ids in site_ids_by_day.items()]
    return reduce(or_, conditions) if conditions else Q(pk__in=[])


def _stays_on_each_sites_today(sites: QuerySet[Site], stay: str, now: datetime) -> Q:
    """``stay`` on each site's own today, as one condition."""
    return _on_each_sites_today(sites.only("pk", "timezone"), lambda day: _stays_on(stay, day), now)


def reservations_for_user(
    *,
    user: User,
    site_id: int | None = None,
    arrival_from: date | None = None,
    arrival_to: date | None = None,
    state: str = "",
    stay: str = "",
    search: str = "",
    sort: str = ReservationSort.ARRIVAL_NEWEST,
    now: datetime | None = None,
) -> QuerySet[Reservation]:
    """Reservations on the person's sites with their codes prefetched (newest first), filtered,
    in the order ``sort`` names (a ``ReservationSort``; another value is a ``KeyError``).

    ``stay`` (a ``StayFilter``) keeps the stays in house, arriving or departing today, each
    site by its own date at ``now``, or the cancelled ones; ``state`` filters on the codes.
    """
    sites = sites_for_user(user=user)
    if site_id:
        sites = sites.filter(pk=site_id)
    reservations = Reservation.objects.filter(site__in=sites)
    if arrival_from:
        reservations = reservations.filter(arrival__gte=arrival_from)
    if arrival_to:
        reservations = reservations.filter(arrival__lte=arrival_to)
    if stay == StayFilter.CANCELLED:
        reservations = reservations.filter(cancelled_at__isnull=False)
    elif stay:
        reservations = reservations.filter(_stays_on_each_sites_today(sites, stay, now or timezone.now()))
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
        .prefetch_related(*_STAY_CODES_AND_DOORS)
        .order_by(*_ORDERINGS[sort])
    )


@dataclass
class SiteStays:
    """The first few stays of one site that the dashboard lists."""

    in_house: list[Reservation] = field(default_factory=list)
    arrivals: list[Reservation] = field(default_factory=list)
    upcoming: list[Reservation] = field(default_factory=list)


def dashboard_stays_for_user(
    *, user: User, sites: Iterable[Site], rows: int, upcoming_days: int, now: datetime | None = None
) -> dict[int, SiteStays]:
    """Per site of ``sites`` (the person's), by the site's own date at ``now``: the first
    ``rows`` guests in house, arriving today, and arriving in the ``upcoming_days`` after today
    (cancelled stays included, marked as such), each list by arrival, with their codes.

    The same few queries for any number of sites: each list is one query that ranks the stays
    within their site (``ROW_NUMBER() OVER (PARTITION BY site)``) and keeps the first ``rows``,
    and the codes and doors of all of them are read at once.
    """
    now = now or timezone.now()
    sites = list(sites)
    visible = Reservation.objects.filter(site__in=sites_for_user(user=user)).select_related("site", "unit")
    ordering = _ORDERINGS[ReservationSort.ARRIVAL]
    lists = {
        "in_house": _on_each_sites_today(sites, lambda day: _stays_on(StayFilter.IN_HOUSE, day), now),
        "arrivals": _on_each_sites_today(sites, lambda day: Q(arrival=day), now),
        "upcoming": _on_each_sites_today(
            sites, lambda day: Q(arrival__gt=day, arrival__lte=day + timedelta(days=upcoming_days)), now
        ),
    }
    found: dict[str, list[Reservation]] = {}
    for name, condition in lists.items():
        ranked = visible.filter(condition).annotate(
            place=Window(RowNumber(), partition_by=[F("site_id")], order_by=list(ordering))
        )
        found[name] = list(ranked.filter(place__lte=rows).order_by("site_id", "place"))
    prefetch_related_objects([stay for stays in found.values() for stay in stays], *_STAY_CODES_AND_DOORS)
    by_site = {site.pk: SiteStays() for site in sites}
    for name, stays in found.items():
        for stay in stays:
            getattr(by_site[stay.site_id], name).append(stay)
    return by_site


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
    # Two arms that never overlap, each matching one of the ledger's partial indexes
    # (access_code_ledger_open, access_code_ledger_acked): PostgreSQL reads the codes
    # still listed from those two and never the years of acknowledged, expired ones.
    # PostgreSQL misjudges how many codes are unacknowledged (most codes of all are, as they
    # never were in the ledger), so the stay is read apart (prefetched) rather than joined: a
    # join sized on that guess read the whole reservations table.
    listed = Q(acknowledged_at__isnull=True) | Q(acknowledged_at__isnull=False, ends_at__gt=now)
    return (
        AccessCode.objects.may_exist_at_seam()
        .exclude(ledger_reason="")
        .filter(listed)
        .select_related("lock__site", "acknowledged_by")
        .prefetch_related("reservation")
        .order_by("lock__site__name", "lock__name", "ends_at", "pk")
    )


def ledger_codes_for_user(*, user: User, site: Site | None = None) -> QuerySet[AccessCode]:
    """The ledger of the person's sites, or of one of them."""
    codes = ledger_codes().filter(lock__site__in=sites_for_user(user=user))
    return codes if site is None else codes.filter(lock__site=site)


@dataclass(frozen=True)
class LedgerCount:
    total: int
    open: int  # not acknowledged yet


def ledger_counts_for_user(*, user: User) -> dict[int, LedgerCount]:
    """Per site of the person's (by id, sites with none left out): how many codes its ledger
    lists, and how many of those nobody acknowledged yet. One query for every site."""
    counts = (
        ledger_codes_for_user(user=user)
        .order_by()
        .values("lock__site_id")
        .annotate(total=Count("pk"), open=Count("pk", filter=Q(acknowledged_at__isnull=True)))
    )
    return {row["lock__site_id"]: LedgerCount(total=row["total"], open=row["open"]) for row in counts}


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
    stay any more, and the dashboard is for what still can. So are a stay's "needs attention"
    and a feed's held removals or failure: the dashboard lists those stays and feeds themselves.
    """
    feeds_and_stays = [StaffAlert.Kind.STAY_NEEDS_ATTENTION, StaffAlert.Kind.FEED_HELD, StaffAlert.Kind.FEED_FAILING]
    return (
        StaffAlert.objects.filter(site__in=sites_for_user(user=user), resolved_at__isnull=True)
        .exclude(access_code__ends_at__lte=timezone.now())
        .exclude(kind__in=feeds_and_stays)
        .select_related("lock", "access_code")
        .order_by("-created_at", "-pk")
    )


def stays_needing_attention_for_user(*, user: User) -> QuerySet[Reservation]:
    """Stays on the person's sites that arrived on their own (a feed, the API) and could not get
    their codes or follow a change, with why; soonest arrival first. Stays over are left out."""
    return (
        Reservation.objects.filter(site__in=sites_for_user(user=user), cancelled_at__isnull=True)
        .exclude(attention="")
        .filter(departure__gte=timezone.now().date())
        .select_related("unit")
        .order_by("arrival", "pk")
    )
