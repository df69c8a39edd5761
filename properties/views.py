from datetime import timedelta
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET

from codes.selectors import locks_for_user, reservation_for_user, reservations_for_user
from properties import services
from properties.forms import ReservationFilterForm, ReservationForm
from properties.selectors import sites_for_user

UPCOMING_DAYS = 14
DASHBOARD_ROWS = 10
PAGE_SIZE = 25


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Per site: today's arrivals (in the site's own time zone) and the next two weeks."""
    sections = []
    for site in sites_for_user(user=request.user):
        today = timezone.now().astimezone(ZoneInfo(site.timezone)).date()
        rows = reservations_for_user(user=request.user, site_id=site.pk)
        sections.append(
            {
                "site": site,
                "today": today,
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
    return render(request, "properties/door_list.html", {"locks": locks_for_user(user=request.user)})


@login_required
def reservation_create(request: HttpRequest) -> HttpResponse:
    form = ReservationForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        reservation, _code = services.reservation_create(
            site=data["site"],
            lock=data["lock"],
            guest_name=data["guest_name"],
            guest_email=data["guest_email"],
            arrival=data["arrival"],
            departure=data["departure"],
            window=data["window"],
        )
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
