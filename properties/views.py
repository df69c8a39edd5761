from datetime import timedelta
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from codes.changes import (
    ChangeRefused,
    capacity,
    ledger_acknowledge,
    ledger_codes,
    live_codes,
    reservation_cancel,
    reservation_change_dates,
)
from codes.selectors import (
    access_code_for_user,
    locks_for_user,
    reservation_for_user,
    reservations_for_user,
    staff_alerts_for_user,
)
from codes.views import staff_user
from config.queueing import watch_queueing
from locks.models import Lock
from properties import services
from properties.forms import LedgerFilterForm, ReservationChangeForm, ReservationFilterForm, ReservationForm
from properties.selectors import sites_for_user

UPCOMING_DAYS = 14
DASHBOARD_ROWS = 10
PAGE_SIZE = 25


def _door_alerts(locks: list[Lock]) -> list[dict[str, object]]:
    """Doors that refuse codes (time zones disagree) or are running out of room, with why."""
    alerts: list[dict[str, object]] = []
    for lock in locks:
        if lock.timezone_problem:
            alerts.append({"lock": lock, "level": "danger", "message": f"Refusing codes. {lock.timezone_problem}"})
        state = capacity(lock, live=int(getattr(lock, "live_codes", 0)))
        if state.level != "ok":
            alerts.append(
                {"lock": lock, "level": "danger" if state.level == "full" else "warning", "message": state.message}
            )
    return alerts


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Per site: open alerts from Seam, doors that need attention, the ledger of live codes
    nobody booked, today's arrivals (in the site's own time zone) and the next two weeks."""
    sections = []
    sites = list(sites_for_user(user=request.user))
    locks = list(locks_for_user(user=request.user))
    ledger = list(ledger_codes().filter(lock__site__in=sites))
    staff_alerts = list(staff_alerts_for_user(user=request.user))
    for site in sites:
        today = timezone.now().astimezone(ZoneInfo(site.timezone)).date()
        rows = reservations_for_user(user=request.user, site_id=site.pk)
        site_ledger = [c for c in ledger if c.lock.site_id == site.pk]
        sections.append(
            {
                "site": site,
                "today": today,
                "staff_alerts": [alert for alert in staff_alerts if alert.site_id == site.pk],
                "door_alerts": _door_alerts([lock for lock in locks if lock.site_id == site.pk]),
                "ledger_open": sum(1 for c in site_ledger if c.acknowledged_at is None),
                "ledger_total": len(site_ledger),
                "arrivals": list(rows.filter(arrival=today)[:DASHBOARD_ROWS]),
                "upcoming": list(
                    rows.filter(arrival__gt=today, arrival__lte=today + timedelta(days=UPCOMING_DAYS))[:DASHBOARD_ROWS]
                ),
            }
        )
    return render(request, "properties/home.html", {"sections": sections})


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
        state=filters.get("state") or "",
        search=filters.get("q") or "",
    )
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request, "properties/reservation_list.html", {"form": form, "page": page, "query": query.urlencode()}
    )


@login_required
@require_GET
def reservation_detail(request: HttpRequest, pk: int) -> HttpResponse:
    reservation = reservation_for_user(user=request.user, pk=pk)
    return render(request, "properties/reservation_detail.html", {"reservation": reservation})


@login_required
@require_GET
def door_list(request: HttpRequest) -> HttpResponse:
    rows = [
        (lock, capacity(lock, live=int(getattr(lock, "live_codes", 0)))) for lock in locks_for_user(user=request.user)
    ]
    return render(request, "properties/door_list.html", {"rows": rows})


@login_required
@require_GET
def door_codes(request: HttpRequest, pk: int) -> HttpResponse:
    """Every code that holds a place on one door now, ledger codes marked."""
    lock = get_object_or_404(locks_for_user(user=request.user), pk=pk)
    codes = live_codes().filter(lock=lock).select_related("reservation").order_by("starts_at", "pk")
    state = capacity(lock, live=int(getattr(lock, "live_codes", 0)))
    return render(request, "properties/door_codes.html", {"lock": lock, "codes": codes, "capacity": state})


@login_required
@require_GET
def ledger(request: HttpRequest) -> HttpResponse:
    """Live codes of cancelled, shortened or moved stays, per door, until acknowledged and expired."""
    codes = ledger_codes().filter(lock__site__in=sites_for_user(user=request.user))
    form = LedgerFilterForm(request.GET or None, user=request.user)
    if form.is_valid() and form.cleaned_data["site"]:
        codes = codes.filter(lock__site=form.cleaned_data["site"])
    return render(request, "properties/ledger.html", {"codes": codes, "now": timezone.now()})


@login_required
@require_POST
def ledger_acknowledge_view(request: HttpRequest, pk: int) -> HttpResponse:
    code = access_code_for_user(user=request.user, pk=pk)
    try:
        ledger_acknowledge(access_code=code, user=staff_user(request))
    except ValueError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Code “{code.name}” acknowledged. It stays listed until it ends.")
    return redirect("ledger")


@login_required
def reservation_change(request: HttpRequest, pk: int) -> HttpResponse:
    """New dates for a stay: first the dates, then the choice of what happens to the codes."""
    reservation = reservation_for_user(user=request.user, pk=pk)
    if reservation.is_cancelled:
        messages.error(request, "This reservation is cancelled; its dates cannot change.")
        return redirect("reservation_detail", pk=reservation.pk)
    if request.method == "POST":
        form = ReservationChangeForm(request.POST, reservation=reservation)
        if form.is_valid():
            data = form.cleaned_data
            try:
                with watch_queueing() as queueing:
                    _, plan = reservation_change_dates(
                        reservation=reservation,
                        arrival=data["arrival"],
                        departure=data["departure"],
                        plan_key=data["plan"],
                        user=staff_user(request),
                    )
            except ChangeRefused as exc:
                form.add_error(None, str(exc))
            else:
                added = len(plan.new_windows)
                codes = f"{added} new code{'s' if added > 1 else ''}"
                if not added:
                    follow = ""
                elif queueing.failed:
                    follow = f" {codes} will be created at Seam as soon as the task queue answers again."
                else:
                    follow = f" {codes} {'are' if added > 1 else 'is'} being created at Seam."
                messages.success(request, f"Dates changed. {plan.summary}.{follow}")
                return redirect("reservation_detail", pk=reservation.pk)
    elif "arrival" in request.GET or "departure" in request.GET:
        # The dates step: bound, so a wrong date gets its error next to the field.
        form = ReservationChangeForm(request.GET, reservation=reservation, preview=True)
        form.is_valid()
    else:
        initial = {"arrival": reservation.arrival, "departure": reservation.departure}
        form = ReservationChangeForm(initial=initial, reservation=reservation)
    return render(request, "properties/reservation_change.html", {"form": form, "reservation": reservation})


@login_required
@require_POST
def reservation_cancel_view(request: HttpRequest, pk: int) -> HttpResponse:
    reservation = reservation_for_user(user=request.user, pk=pk)
    if request.POST.get("confirm") != "yes":
        messages.error(request, "Tick the box to confirm the cancellation.")
        return redirect("reservation_detail", pk=reservation.pk)
    listed = reservation_cancel(reservation=reservation, user=staff_user(request))
    messages.success(
        request,
        f"Reservation cancelled. {listed} live code{'s' if listed != 1 else ''} cannot be revoked and "
        f"{'are' if listed != 1 else 'is'} listed in the ledger until {'they end' if listed != 1 else 'it ends'}.",
    )
    return redirect("reservation_detail", pk=reservation.pk)


@login_required
def reservation_create(request: HttpRequest) -> HttpResponse:
    form = ReservationForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            with watch_queueing() as queueing:
                reservation, _code = services.reservation_create(
                    site=data["site"],
                    lock=data["lock"],
                    guest_name=data["guest_name"],
                    guest_email=data["guest_email"],
                    arrival=data["arrival"],
                    departure=data["departure"],
                    window=data["window"],
                )
        except ValidationError as exc:
            # The door is full, or its zones disagree, since the form was checked.
            form.add_error(None, exc)
            return render(request, "properties/reservation_form.html", {"form": form})
        if queueing.failed:
            # Saved, and the sweep queues the code once the queue is back: submitting again
            # would book the stay twice.
            messages.warning(
                request,
                f"Reservation for {reservation.guest_name} saved. The task queue is not answering right now: "
                f"its code ({data['window'].label}) will be created at Seam as soon as it is back, on its own. "
                "Do not book it again.",
            )
        else:
            messages.success(
                request,
                f"Reservation for {reservation.guest_name} saved. Its code ({data['window'].label}) "
                "is being created at Seam.",
            )
        return redirect("home")
    return render(request, "properties/reservation_form.html", {"form": form})


@login_required
@require_GET
def reservation_form_choices(request: HttpRequest) -> HttpResponse:
    """htmx: the door and window fields again, for the site, door and dates chosen so far."""
    form = ReservationForm(initial=request.GET.dict(), user=request.user)
    return render(request, "properties/_reservation_choices.html", {"form": form})
