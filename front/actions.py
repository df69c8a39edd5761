"""The staff pages that change things: book a stay, change its dates, correct its guest's
details, cancel it, revoke or renew its guest page link, acknowledge a ledger code, and the
actions on one code (reveal its PIN, email it, retry it).

Each view checks access (another site's objects answer 404), binds its form, asks
:mod:`codes.offers` what can be offered, calls one service, and shows the service's
``Refused`` as a form error or a notice. Any other exception is a bug and surfaces as one.
"""

from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from codes import selectors
from codes.creating import access_code_retry
from codes.emails import code_email_request
from codes.errors import Refused
from codes.guestlinks import guest_link_renew, guest_link_revoke
from codes.history import access_code_reveal
from codes.models import AccessCode, CodeEmail
from codes.offers import ChangeOffer, StayOffer, change_offer, stay_offer
from codes.plans import ChangePlan
from codes.stays import (
    GuestCorrection,
    guest_change_words,
    ledger_acknowledge,
    reservation_cancel,
    reservation_change_dates,
    reservation_codes_create,
    reservation_create,
    reservation_update_guest,
)
from config.queueing import watch_queueing
from feeds.selectors import feed_for_user
from feeds.sync import SyncResult, feed_create, feed_removals_confirm, feed_sync
from front.forms import CodesForm, FeedForm, GuestForm, ReservationChangeForm, ReservationForm, add_refusal
from front.views import render_unit
from locks.models import Lock
from properties.models import Reservation
from properties.selectors import units_for_user


def staff_user(request: HttpRequest) -> User:
    # login_required ran first: the user is a signed-in account, never AnonymousUser.
    assert isinstance(request.user, User)
    return request.user


# Booking a stay


def _stay_offer(form: ReservationForm) -> tuple[StayOffer | None, Refused | None]:
    """What the unit and dates typed so far can get, offered on the form; or why these dates
    cannot be booked at all."""
    stay = form.stay_so_far()
    if stay is None:
        return None, None
    unit, arrival, departure = stay
    try:
        offer = stay_offer(unit=unit, arrival=arrival, departure=departure)
    except Refused as refusal:
        return None, refusal
    form.offer_plans(offer)
    return offer, None


@login_required
def reservation_new(request: HttpRequest) -> HttpResponse:
    form = ReservationForm(request.POST or None, user=request.user)
    offer, refusal = _stay_offer(form)
    if request.method == "POST":
        valid = form.is_valid()
        if refusal is not None:
            add_refusal(form, refusal)
        elif valid:
            data = form.cleaned_data
            try:
                with watch_queueing() as queueing:
                    reservation, codes = reservation_create(
                        unit=data["unit"],
                        guest_name=data["guest_name"],
                        guest_email=data["guest_email"],
                        language=data["language"],
                        arrival=data["arrival"],
                        departure=data["departure"],
                        plan_keys=form.plan_keys(),
                        request_key=data["request_key"],
                        allow_overlap=data["allow_overlap"],
                    )
            except Refused as exc:
                add_refusal(form, exc)
            else:
                _say_booked(request, reservation, codes, queue_failed=bool(queueing.failed))
                return redirect("reservation_detail", pk=reservation.pk)
    context = {"form": form, "offer": offer, "stay_problem": refusal.message if refusal else ""}
    return render(request, "front/reservation_form.html", context)


def _say_booked(
    request: HttpRequest, reservation: Reservation, codes: list[AccessCode], *, queue_failed: bool
) -> None:
    count = f"{len(codes)} code{'s' if len(codes) != 1 else ''}"
    if queue_failed:
        # Saved, and the sweep queues the codes once the queue is back: submitting again would
        # book the stay twice.
        messages.warning(
            request,
            f"Reservation for {reservation.guest_name} saved. The task queue is not answering right now: "
            f"its {count} will be created at Seam as soon as it is back, on its own. Do not book it again.",
        )
    else:
        messages.success(
            request, f"Reservation for {reservation.guest_name} saved. Its {count} are being created at Seam."
        )


@login_required
@require_GET
def reservation_new_choices(request: HttpRequest) -> HttpResponse:
    """htmx: the unit and window fields again, for the site, unit and dates chosen so far."""
    form = ReservationForm(initial=request.GET.dict(), user=request.user)
    offer, refusal = _stay_offer(form)
    context = {"form": form, "offer": offer, "stay_problem": refusal.message if refusal else ""}
    return render(request, "front/_reservation_choices.html", context)


@login_required
def reservation_codes_new(request: HttpRequest, pk: int) -> HttpResponse:
    """Codes for a stay that has none (booked in the admin, or refused by a door before)."""
    reservation = selectors.reservation_for_user(user=request.user, pk=pk)
    form = CodesForm(request.POST or None)
    try:
        offer = stay_offer(unit=reservation.unit, arrival=reservation.arrival, departure=reservation.departure)
    except Refused as exc:
        messages.error(request, exc.message)
        return redirect("reservation_detail", pk=reservation.pk)
    form.offer_plans(offer)
    if request.method == "POST" and form.is_valid():
        try:
            with watch_queueing() as queueing:
                codes = reservation_codes_create(reservation=reservation, plan_keys=form.plan_keys())
        except Refused as exc:
            add_refusal(form, exc)
        else:
            _say_booked(request, reservation, codes, queue_failed=bool(queueing.failed))
            return redirect("reservation_detail", pk=reservation.pk)
    return render(request, "front/reservation_codes.html", {"form": form, "offer": offer, "reservation": reservation})


# Changing a stay


def _change_offer(
    form: ReservationChangeForm, reservation: Reservation, *, preview: bool
) -> tuple[ChangeOffer | None, Refused | None]:
    dates = form.dates_so_far()
    if dates is None:
        return None, None
    try:
        offer = change_offer(reservation=reservation, arrival=dates[0], departure=dates[1])
    except Refused as refusal:
        return None, refusal
    form.offer_plans(offer, preview=preview)
    return offer, None


@login_required
def reservation_change(request: HttpRequest, pk: int) -> HttpResponse:
    """New dates for a stay: first the dates, then the choice of what happens to the codes on
    each door."""
    reservation = selectors.reservation_for_user(user=request.user, pk=pk)
    if reservation.is_cancelled:
        messages.error(request, "This reservation is cancelled; its dates cannot change.")
        return redirect("reservation_detail", pk=reservation.pk)
    if request.method == "POST":
        form = ReservationChangeForm(request.POST)
    elif "arrival" in request.GET or "departure" in request.GET:
        # The dates step: bound, so a wrong date gets its error next to the field.
        form = ReservationChangeForm(request.GET)
    else:
        form = ReservationChangeForm(initial={"arrival": reservation.arrival, "departure": reservation.departure})
    # Unbound, the dates are the stay's own: nothing to offer yet.
    offer, refusal = (
        _change_offer(form, reservation, preview=request.method != "POST") if form.is_bound else (None, None)
    )
    if form.is_bound:
        valid = form.is_valid()
        if refusal is not None:
            add_refusal(form, refusal)
        elif valid and request.method == "POST" and offer is not None and not offer.refusals:
            data = form.cleaned_data
            try:
                with watch_queueing() as queueing:
                    _, chosen = reservation_change_dates(
                        reservation=reservation,
                        arrival=data["arrival"],
                        departure=data["departure"],
                        plan_keys=form.plan_keys(),
                        user=staff_user(request),
                    )
            except Refused as exc:
                add_refusal(form, exc)
            else:
                messages.success(request, _dates_changed(chosen, queue_failed=bool(queueing.failed)))
                return redirect("reservation_detail", pk=reservation.pk)
    context = {"form": form, "offer": offer, "reservation": reservation}
    return render(request, "front/reservation_change.html", context)


def _dates_changed(chosen: list[tuple[Lock, ChangePlan]], *, queue_failed: bool) -> str:
    said = " ".join(f"{lock.name}: {plan.summary}." for lock, plan in chosen)
    added = sum(len(plan.new_windows) for _, plan in chosen)
    if not added:
        return f"Dates changed. {said}"
    codes = f"{added} new code{'s' if added > 1 else ''}"
    if queue_failed:
        return f"Dates changed. {said} {codes} will be created at Seam as soon as the task queue answers again."
    return f"Dates changed. {said} {codes} {'are' if added > 1 else 'is'} being created at Seam."


@login_required
def reservation_guest(request: HttpRequest, pk: int) -> HttpResponse:
    """Correct the guest's name and email address. Nothing is emailed on its own: after a new
    address, the notice says where the code email went and which button sends it to the new one."""
    reservation = selectors.reservation_for_user(user=request.user, pk=pk)
    if reservation.is_cancelled:
        messages.error(request, "This reservation is cancelled; its guest details cannot change.")
        return redirect("reservation_detail", pk=reservation.pk)
    form = GuestForm(
        request.POST or None,
        initial={
            "guest_name": reservation.guest_name,
            "guest_email": reservation.guest_email,
            "language": reservation.language,
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            correction = reservation_update_guest(
                reservation=reservation,
                guest_name=form.cleaned_data["guest_name"],
                guest_email=form.cleaned_data["guest_email"],
                language=form.cleaned_data["language"],
                user=staff_user(request),
            )
        except Refused as exc:
            add_refusal(form, exc)
        else:
            _say_guest_corrected(request, correction)
            return redirect("reservation_detail", pk=reservation.pk)
    return render(request, "front/reservation_guest.html", {"form": form, "reservation": reservation})


def _say_guest_corrected(request: HttpRequest, correction: GuestCorrection) -> None:
    if not correction.changes:
        messages.info(request, "Nothing to correct: the guest's name and email are as they were.")
        return
    said = "; ".join(guest_change_words(field, *change) for field, change in correction.changes.items())
    text = f"Guest details corrected: {said}."
    email = correction.earlier_email
    if email is not None:
        text += f" {_earlier_email_words(email, correction.reservation)}"
    messages.success(request, text)


def _earlier_email_words(email: CodeEmail, reservation: Reservation) -> str:
    """Where the code email went, that it is not sent again, and the button that sends it to the
    new address (it sends to the stay's address as it is now)."""
    went = "went to" if email.status == CodeEmail.Status.SENT else "is on its way to"
    # The stay's email goes out from its first current code; after a date change that may be a
    # code never emailed yet, whose button is named for a first email.
    lead = selectors.stay_lead(reservation=reservation)
    button = "Resend email" if lead is not None and lead.emails.exists() else "Email code to guest"
    return (
        f"The code email {went} {email.to_address}; it is not sent again on its own. To send it to "
        f"{reservation.guest_email}, use “{button}” on the stay's first code below."
    )


@login_required
@require_POST
def reservation_cancel_view(request: HttpRequest, pk: int) -> HttpResponse:
    reservation = selectors.reservation_for_user(user=request.user, pk=pk)
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
@require_POST
def reservation_guest_link(request: HttpRequest, pk: int) -> HttpResponse:
    """Revoke the stay's guest page link (``do=revoke``), or revoke it and send a new one with
    the code email (``do=renew``): the email carries the stay's live link."""
    reservation = selectors.reservation_for_user(user=request.user, pk=pk)
    user = staff_user(request)
    if request.POST.get("do") == "renew":
        if reservation.is_cancelled:
            messages.error(request, gettext("This reservation is cancelled: its guest page shows no code."))
        else:
            guest_link_renew(reservation, user=user)
            _say_link_renewed(request, reservation, user)
    elif guest_link_revoke(reservation, user=user):
        messages.success(request, gettext("Guest page link revoked: it no longer opens."))
    else:
        messages.info(request, gettext("This stay has no live guest page link to revoke."))
    return redirect("reservation_detail", pk=reservation.pk)


def _say_link_renewed(request: HttpRequest, reservation: Reservation, user: User) -> None:
    done = gettext("Guest page link renewed: the old link no longer opens.")
    lead = selectors.stay_lead(reservation=reservation)
    if lead is None or lead.status != AccessCode.Status.SET or not lead.code:
        later = gettext("The new link goes out with the code email once the codes are set.")
        messages.success(request, f"{done} {later}")
        return
    try:
        with watch_queueing() as queueing:
            email = code_email_request(access_code=lead, user=user, resend=True)
    except Refused as exc:
        not_emailed = gettext("The new link was not emailed:")
        messages.warning(request, f"{done} {not_emailed} {exc.message}")
        return
    if queueing.failed:
        said = gettext(
            "The code email with the new link to %(address)s is saved: it goes out as soon as the task queue "
            "answers again."
        )
        messages.warning(request, f"{done} {said % {'address': email.to_address}}")
    else:
        said = gettext("The code email with the new link to %(address)s is queued.")
        messages.success(request, f"{done} {said % {'address': email.to_address}}")


@login_required
@require_POST
def ledger_acknowledge_view(request: HttpRequest, pk: int) -> HttpResponse:
    code = selectors.access_code_for_user(user=request.user, pk=pk)
    try:
        ledger_acknowledge(access_code=code, user=staff_user(request))
    except Refused as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Code “{code.name}” acknowledged. It stays listed until it ends.")
    # Back to the page of the ledger the code was acknowledged on, with its site filter.
    back = QueryDict(mutable=True)
    back.update({name: request.GET[name] for name in ("site", "page") if request.GET.get(name)})
    return redirect(f"{reverse('ledger')}?{back.urlencode()}" if back else reverse("ledger"))


# One code. Each action checks that the code belongs to one of the person's sites (404
# otherwise) and answers with the code's cell, which htmx swaps in place.


def _cell(request: HttpRequest, code: AccessCode, *, revealed: bool = False, notice: str = "") -> HttpResponse:
    # On the reservation's page (?detail=1) the cell carries the email log and the history too,
    # so that both show what the action just did.
    detail = request.GET.get("detail") == "1"
    if detail:
        code = selectors.access_code_with_history(pk=code.pk)
    context = {
        "code": code,
        "revealed": revealed,
        "notice": notice,
        "detail": detail,
        "lead": selectors.is_stay_lead(code),
    }
    return render(request, "front/_code_cell.html", context)


@login_required
@require_GET
def code_cell(request: HttpRequest, pk: int) -> HttpResponse:
    """htmx polling: the code's current state."""
    return _cell(request, selectors.access_code_for_user(user=request.user, pk=pk))


@never_cache
@login_required
@require_POST
def code_reveal(request: HttpRequest, pk: int) -> HttpResponse:
    """Show the PIN once, and record who saw it and when. Never stored by a cache on the way
    (``Cache-Control: no-store``): the only copy of the PIN is the one on the screen."""
    code = selectors.access_code_for_user(user=request.user, pk=pk)
    if not code.code:
        return _cell(request, code, notice="Seam has not given this code a PIN yet.")
    access_code_reveal(access_code=code, user=staff_user(request))
    return _cell(request, code, revealed=True)


def _queueing_action(
    request: HttpRequest, code: AccessCode, action: Callable[[], object], *, done: str, saved: str
) -> HttpResponse:
    """Run one action on the code that queues work; the cell says what became of it: ``done``,
    ``saved`` when the task queue could not take it (the sweep queues it later), or the refusal."""
    try:
        with watch_queueing() as queueing:
            action()
    except Refused as exc:
        return _cell(request, code, notice=exc.message)
    code.refresh_from_db()
    return _cell(request, code, notice=saved if queueing.failed else done)


@login_required
@require_POST
def code_retry(request: HttpRequest, pk: int) -> HttpResponse:
    code = selectors.access_code_for_user(user=request.user, pk=pk)
    return _queueing_action(
        request,
        code,
        lambda: access_code_retry(access_code=code, user=staff_user(request)),
        done="Retrying: the code is being created again.",
        saved="Retry saved: the code is created as soon as the task queue answers again.",
    )


@login_required
@require_POST
def code_email(request: HttpRequest, pk: int) -> HttpResponse:
    """Queue the guest email (or a resend, on purpose)."""
    code = selectors.access_code_for_user(user=request.user, pk=pk)
    resend = request.POST.get("resend") == "1"
    to = code.reservation.guest_email
    return _queueing_action(
        request,
        code,
        lambda: code_email_request(access_code=code, user=staff_user(request), resend=resend),
        done=f"Email to {to} queued.",
        saved=f"Email to {to} saved: it goes out as soon as the task queue answers again.",
    )


# Calendar feeds of a unit


@login_required
@require_POST
def unit_feed_add(request: HttpRequest, pk: int) -> HttpResponse:
    """Add a channel's calendar feed to the unit, then sync it at once."""
    unit = get_object_or_404(units_for_user(user=request.user), pk=pk)
    form = FeedForm(request.POST)
    if form.is_valid():
        try:
            feed = feed_create(unit=unit, url=form.cleaned_data["url"], channel=form.cleaned_data["channel"])
        except Refused as exc:
            add_refusal(form, exc)
        else:
            _say_synced(request, feed_sync(feed=feed), added=True)
            return redirect("unit_detail", pk=unit.pk)
    return render_unit(request, unit, form, status=400)


@login_required
@require_POST
def feed_sync_now(request: HttpRequest, pk: int) -> HttpResponse:
    """Sync one feed now (the beat syncs every feed every 15 minutes by default)."""
    feed = feed_for_user(user=request.user, pk=pk)
    _say_synced(request, feed_sync(feed=feed))
    return redirect("unit_detail", pk=feed.unit_id)


@login_required
@require_POST
def feed_confirm_removals(request: HttpRequest, pk: int) -> HttpResponse:
    """Cancel the stays a feed stopped listing, held until staff confirm."""
    feed = feed_for_user(user=request.user, pk=pk)
    try:
        cancelled = feed_removals_confirm(feed=feed, user=staff_user(request))
    except Refused as exc:
        messages.warning(request, exc.message)
    else:
        messages.success(request, f"{cancelled} stay(s) cancelled: their live codes are in the ledger.")
    return redirect("unit_detail", pk=feed.unit_id)


def _say_synced(request: HttpRequest, result: SyncResult, *, added: bool = False) -> None:
    feed = result.feed
    what = f"{'Feed added' if added else feed.get_channel_display() + ' feed synced'}: {result}."
    if result.error:
        messages.error(request, f"{feed.get_channel_display()} feed: {result.error} Nothing was changed.")
    elif result.held:
        messages.warning(request, what + " Confirm the cancellations below if the channel really cancelled them.")
    else:
        messages.success(request, what)
