"""The staff pages that show things: the dashboard, reservations, doors and the ledger.
Everything shown is limited to the sites the person is on (the selectors see to it); the pages
that change things are in :mod:`front.actions`."""

from typing import TypeVar

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.paginator import Page, Paginator
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.http import require_GET

from codes.capacity import capacity
from codes.guestlinks import guest_link_live
from codes.selectors import (
    LedgerCount,
    ReservationSort,
    dashboard_stays_for_user,
    ledger_codes_for_user,
    ledger_counts_for_user,
    live_codes_on_door,
    locks_for_user,
    reservation_for_user,
    reservations_for_user,
    site_today,
    staff_alerts_for_user,
    stays_needing_attention_for_user,
)
from codes.sending import email_plan
from config.paging import counted_page
from feeds.models import CalendarFeed
from feeds.selectors import feeds_for_user, feeds_in_trouble_for_user, held_reservations
from feeds.sync import last_checked
from front.forms import FeedForm, ReservationFilterForm, SiteFilterForm
from locks.models import Lock
from properties.models import Site, Unit
from properties.selectors import sites_for_user, units_for_user

UPCOMING_DAYS = 14
DASHBOARD_ROWS = 10
PAGE_SIZE = 25
DOORS_PAGE_SIZE = 25
UNITS_PAGE_SIZE = 50
LEDGER_PAGE_SIZE = 50

M = TypeVar("M", bound=Model)


def _door_alerts(locks: list[Lock]) -> list[dict[str, object]]:
    """Doors that refuse codes or are running out of room, with why."""
    alerts: list[dict[str, object]] = []
    for lock in locks:
        if lock.code_refusal:
            alerts.append({"lock": lock, "level": "danger", "message": lock.code_refusal})
        state = capacity(lock, live=int(getattr(lock, "live_codes", 0)))
        if state.level != "ok":
            alerts.append(
                {"lock": lock, "level": "danger" if state.level == "full" else "warning", "message": state.message}
            )
    return alerts


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """Per site: open alerts from Seam, stays that arrived on their own and need staff, doors that
    need attention, the ledger of live codes
    nobody booked, the guests in house now, today's arrivals (each by the site's own date) and
    the next two weeks. The same number of queries for one site as for many."""
    now = timezone.now()
    sections = []
    sites = list(sites_for_user(user=request.user))
    locks = list(locks_for_user(user=request.user))
    ledger = ledger_counts_for_user(user=request.user)
    staff_alerts = list(staff_alerts_for_user(user=request.user))
    attention = list(stays_needing_attention_for_user(user=request.user)[: DASHBOARD_ROWS * max(len(sites), 1)])
    feeds_in_trouble = list(feeds_in_trouble_for_user(user=request.user))
    stays = dashboard_stays_for_user(
        user=request.user, sites=sites, rows=DASHBOARD_ROWS, upcoming_days=UPCOMING_DAYS, now=now
    )
    for site in sites:
        site_ledger = ledger.get(site.pk, LedgerCount(total=0, open=0))
        sections.append(
            {
                "site": site,
                "today": site_today(site, now=now),
                "staff_alerts": [alert for alert in staff_alerts if alert.site_id == site.pk],
                "needs_attention": [stay for stay in attention if stay.site_id == site.pk][:DASHBOARD_ROWS],
                "feeds_in_trouble": [feed for feed in feeds_in_trouble if feed.unit.site_id == site.pk],
                "door_alerts": _door_alerts([lock for lock in locks if lock.site_id == site.pk]),
                "ledger_open": site_ledger.open,
                "ledger_total": site_ledger.total,
                "in_house": stays[site.pk].in_house,
                "arrivals": stays[site.pk].arrivals,
                "upcoming": stays[site.pk].upcoming,
            }
        )
    return render(request, "front/home.html", {"sections": sections})


def _site_asked(request: HttpRequest) -> tuple[SiteFilterForm, Site | None]:
    """A list's site filter from the query string, and the site it names (None: all the
    person's sites, also when the value is not one of theirs)."""
    form = SiteFilterForm(request.GET or None, user=request.user)
    return form, form.cleaned_data["site"] if form.is_valid() else None


def _site_page(request: HttpRequest, rows: QuerySet[M], site: Site | None, per_page: int) -> Page[M]:
    """The page asked for of ``rows``, only those of ``site`` when one was asked for."""
    return Paginator(rows if site is None else rows.filter(site=site), per_page).get_page(request.GET.get("page"))


def _query_without_page(request: HttpRequest) -> str:
    """The page's query string without its page number, for the links to other pages."""
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


@login_required
@require_GET
def reservation_list(request: HttpRequest) -> HttpResponse:
    form = ReservationFilterForm(request.GET or None, user=request.user)
    filters = form.cleaned_data if form.is_valid() else {}
    rows = reservations_for_user(
        user=request.user,
        site_id=filters["site"].pk if filters.get("site") else None,
        arrival_from=filters.get("arrival_from"),
        arrival_to=filters.get("arrival_to"),
        stay=filters.get("stay") or "",
        state=filters.get("state") or "",
        search=filters.get("q") or "",
        sort=filters.get("sort") or ReservationSort.ARRIVAL_NEWEST,
    )
    page = counted_page(rows, PAGE_SIZE, request.GET.get("page"))
    context = {"form": form, "page": page, "query": _query_without_page(request)}
    return render(request, "front/reservation_list.html", context)


@login_required
@require_GET
def reservation_detail(request: HttpRequest, pk: int) -> HttpResponse:
    reservation = reservation_for_user(user=request.user, pk=pk)
    plan = email_plan(reservation=reservation, now=timezone.now())
    context = {"reservation": reservation, "email_plan": plan, "guest_link": guest_link_live(reservation=reservation)}
    return render(request, "front/reservation_detail.html", context)


@login_required
@require_GET
def door_list(request: HttpRequest) -> HttpResponse:
    """The doors of the person's sites (or of one of them), a page at a time, each with its
    live codes against its capacity and its time slots."""
    form, site = _site_asked(request)
    page = _site_page(request, locks_for_user(user=request.user), site, DOORS_PAGE_SIZE)
    rows = [(lock, capacity(lock, live=int(getattr(lock, "live_codes", 0)))) for lock in page]
    context = {"form": form, "page": page, "rows": rows, "query": _query_without_page(request)}
    return render(request, "front/door_list.html", context)


@login_required
@require_GET
def door_codes(request: HttpRequest, pk: int) -> HttpResponse:
    """Every code that holds a place on one door now, ledger codes marked."""
    lock = get_object_or_404(locks_for_user(user=request.user), pk=pk)
    state = capacity(lock, live=int(getattr(lock, "live_codes", 0)))
    return render(
        request, "front/door_codes.html", {"lock": lock, "codes": live_codes_on_door(lock=lock), "capacity": state}
    )


@login_required
@require_GET
def ledger(request: HttpRequest) -> HttpResponse:
    """Live codes of cancelled, shortened or moved stays, per door, until acknowledged and expired."""
    form, site = _site_asked(request)
    codes = ledger_codes_for_user(user=request.user, site=site)
    page = counted_page(codes, LEDGER_PAGE_SIZE, request.GET.get("page"))
    context = {
        "form": form,
        "page": page,
        "now": timezone.now(),
        "query": _query_without_page(request),
        # Acknowledging a code comes back to this page of the ledger, with its filter.
        "here": request.GET.urlencode(),
    }
    return render(request, "front/ledger.html", context)


@login_required
@require_GET
def unit_list(request: HttpRequest) -> HttpResponse:
    """The units of the person's sites (or of one of them), a page at a time, each with its doors
    in walking order and its feeds."""
    form, site = _site_asked(request)
    page = _site_page(request, units_for_user(user=request.user), site, UNITS_PAGE_SIZE)
    feeds: dict[int, list[CalendarFeed]] = {}
    for feed in feeds_for_user(user=request.user).filter(unit__in=[unit.pk for unit in page]):
        feeds.setdefault(feed.unit_id, []).append(feed)
    rows = [(unit, feeds.get(unit.pk, [])) for unit in page]
    context = {"form": form, "page": page, "rows": rows, "query": _query_without_page(request)}
    return render(request, "front/unit_list.html", context)


@login_required
@require_GET
def unit_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A unit: its doors, standard times, calendar feeds (with where each stands) and stays."""
    return render_unit(request, get_object_or_404(units_for_user(user=request.user), pk=pk), FeedForm())


def render_unit(request: HttpRequest, unit: Unit, form: FeedForm, status: int = 200) -> HttpResponse:
    feeds = [
        {"feed": feed, "checked": last_checked(feed), "held": held_reservations(feed)}
        for feed in feeds_for_user(user=request.user).filter(unit=unit)
    ]
    today = site_today(unit.site)
    stays = (
        reservations_for_user(user=request.user, site_id=unit.site_id, sort=ReservationSort.ARRIVAL)
        .filter(unit=unit, departure__gte=today)
        .filter(cancelled_at__isnull=True)
    )
    context = {
        "unit": unit,
        "doors": unit.unit_doors.select_related("lock").order_by("position", "pk"),
        "feeds": feeds,
        "form": form,
        "stays": list(stays[:DASHBOARD_ROWS]),
        "sync_minutes": round(settings.CELERY_BEAT_SCHEDULE["sync-feeds"]["schedule"] / 60),
    }
    return render(request, "front/unit_detail.html", context, status=status)
