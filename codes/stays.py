"""Every write to a reservation: booking a stay, moving it to new dates, cancelling it,
correcting its guest's details.

A reservation's dates decide its codes, so these writes live beside the codes they make. An
Oracode code opens its door until it ends, whatever happens to the stay: a change never edits
or removes a code. It adds the codes the new dates need (see :mod:`codes.plans`), marks those it
replaces as superseded, and lists every code that opens the door on days nobody has booked in
the door's **ledger**, where it stays until staff acknowledge it and it expires.

A code never sent to Seam is the one exception: it is withdrawn (status ``cancelled``) by a
conditional UPDATE, so a worker that claims it first simply creates it, and it then appears in
the ledger like any other.

Each service takes the choice a person made (a plan's key) and looks it up again in a fresh
offer (:mod:`codes.offers`) under row locks, so a stale, forged or repeated choice is refused,
never applied twice. Refusals are ``Refused``, with the words staff read.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from codes.alerts import staff_alerts_resolve, stay_alert_key
from codes.capacity import capacity_refusal
from codes.creating import access_code_request
from codes.errors import Refused
from codes.history import record
from codes.localtime import format_date
from codes.models import AccessCode, AccessCodeEvent, CodeEmail
from codes.offers import change_offer, stay_offer
from codes.plans import ChangePlan, opens_outside_stay
from locks.models import Lock
from properties.models import Reservation, Unit, UnitDoor

Status = AccessCode.Status
Kind = AccessCodeEvent.Kind
Reason = AccessCode.LedgerReason


@transaction.atomic
def reservation_book(
    *,
    unit: Unit,
    guest_name: str,
    guest_email: str,
    arrival: date,
    departure: date,
    plan_keys: Mapping[int, str] | None = None,
    request_key: str = "",
    allow_overlap: bool = False,
    source: str = Reservation.Source.STAFF,
    external_id: str = "",
    language: str = "",
    now: datetime | None = None,
) -> tuple[Reservation, list[AccessCode], bool]:
    """Save a stay in ``unit`` and request its offline codes on every door of the unit (created
    at Seam after commit); returns the stay, its codes, door by door in walking order, and
    whether it was booked now (False: it had been booked before, see below).

    ``plan_keys`` names, by lock id, the plan chosen for each door among those offered; a door
    without one gets its preselected plan (the closest to the unit's standard times).
    ``language`` is the guest's, for their email and guest page ("": the site's).
    ``request_key`` is the booking form's one-time key: the same form submitted twice returns
    the stay booked the first time; so does an ``external_id`` (the stay's id at a channel or
    PMS) already booked in the unit. Raises ``Refused`` when a door the stay needs offers
    nothing (every door gets a code, or the booking is refused with each door's reasons), a
    choice is not offered (any more), a door has no room, or, unless ``allow_overlap``, another
    stay holds one of the unit's own doors on these dates.
    """
    now = now or timezone.now()
    if (earlier := _booked_before(unit, request_key, external_id)) is not None:
        return earlier, list(earlier.access_codes.order_by("pk")), False
    _lock_doors(unit)
    chosen = stay_offer(unit=unit, arrival=arrival, departure=departure, now=now).chosen(plan_keys or {})
    _refuse_without_room([(lock, len(plan.windows)) for lock, plan in chosen], now)
    if not allow_overlap:
        _refuse_overlap(unit, arrival, departure)
    reservation = Reservation(
        site=unit.site,
        unit=unit,
        guest_name=guest_name,
        guest_email=guest_email,
        arrival=arrival,
        departure=departure,
        request_key=request_key,
        source=source,
        external_id=external_id,
        language=language,
    )
    if (earlier := _save_new(reservation)) is not None:
        return earlier, list(earlier.access_codes.order_by("pk")), False
    codes = [
        access_code_request(reservation=reservation, lock=lock, window=window)
        for lock, plan in chosen
        for window in plan.windows
    ]
    return reservation, codes, True


def reservation_create(
    *,
    unit: Unit,
    guest_name: str,
    guest_email: str,
    arrival: date,
    departure: date,
    plan_keys: Mapping[int, str] | None = None,
    request_key: str = "",
    allow_overlap: bool = False,
    language: str = "",
    now: datetime | None = None,
) -> tuple[Reservation, list[AccessCode]]:
    """Book a stay typed in by staff: ``reservation_book`` without the flag."""
    reservation, codes, _ = reservation_book(
        unit=unit,
        guest_name=guest_name,
        guest_email=guest_email,
        arrival=arrival,
        departure=departure,
        plan_keys=plan_keys,
        request_key=request_key,
        allow_overlap=allow_overlap,
        language=language,
        now=now,
    )
    return reservation, codes


@transaction.atomic
def reservation_codes_create(
    *, reservation: Reservation, plan_keys: Mapping[int, str] | None = None, now: datetime | None = None
) -> list[AccessCode]:
    """Request the codes of a stay that has none (booked in the admin, or refused by a door
    before); returns them. Chosen like ``reservation_create``'s; raises ``Refused`` like it, and
    when the stay has current codes already or is cancelled."""
    now = now or timezone.now()
    reservation = Reservation.objects.select_for_update().select_related("unit__site").get(pk=reservation.pk)
    if reservation.is_cancelled:
        raise Refused("This reservation is cancelled: it gets no codes.")
    if AccessCode.objects.current().filter(reservation=reservation).exists():
        raise Refused("This stay has its codes already.")
    _lock_doors(reservation.unit)
    offer = stay_offer(unit=reservation.unit, arrival=reservation.arrival, departure=reservation.departure, now=now)
    chosen = offer.chosen(plan_keys or {})
    _refuse_without_room([(lock, len(plan.windows)) for lock, plan in chosen], now)
    codes = [
        access_code_request(reservation=reservation, lock=lock, window=window)
        for lock, plan in chosen
        for window in plan.windows
    ]
    attention_clear(reservation)
    return codes


@transaction.atomic
def reservation_create_flagged(
    *,
    unit: Unit,
    guest_name: str,
    guest_email: str,
    arrival: date,
    departure: date,
    source: str,
    external_id: str,
    attention: str,
    language: str = "",
) -> tuple[Reservation, bool]:
    """Save a stay that arrived on its own but cannot have its codes now, with why in
    ``attention`` (see :mod:`codes.imports`); returns it and whether it was saved now (False:
    the same ``external_id`` was booked in the unit meanwhile, and that stay is returned)."""
    reservation = Reservation(
        site=unit.site,
        unit=unit,
        guest_name=guest_name,
        guest_email=guest_email,
        arrival=arrival,
        departure=departure,
        source=source,
        external_id=external_id,
        attention=attention,
        language=language,
    )
    earlier = _booked_before(unit, "", external_id) or _save_new(reservation)
    return (earlier, False) if earlier is not None else (reservation, True)


def _save_new(reservation: Reservation) -> Reservation | None:
    """Insert the stay; None when inserted, else the stay booked under its form key or external
    id by a submission that got there first (the same stay sent twice at once)."""
    reservation.full_clean(validate_constraints=False)
    try:
        with transaction.atomic():
            reservation.save()
    except IntegrityError:
        earlier = _booked_before(reservation.unit, reservation.request_key, reservation.external_id)
        if earlier is None:
            raise
        return earlier
    return None


def _booked_before(unit: Unit, request_key: str, external_id: str) -> Reservation | None:
    """The stay booked under this form key, or this external id in the unit, if any."""
    if request_key and (earlier := Reservation.objects.filter(request_key=request_key).first()):
        return earlier
    if external_id:
        return Reservation.objects.filter(unit=unit, external_id=external_id).first()
    return None


def _lock_doors(unit: Unit) -> None:
    """Take the unit's doors' row locks, in id order (two bookings never wait on each other in a
    circle): each door's capacity decision is serialised with every booking and change on it."""
    list(Lock.objects.select_for_update().filter(unit_doors__unit=unit).order_by("pk").values_list("pk", flat=True))


def _refuse_without_room(needs: list[tuple[Lock, int]], now: datetime) -> None:
    refusals = [refusal for lock, needed in needs if (refusal := capacity_refusal(lock, needed=needed, now=now))]
    if refusals:
        raise Refused(" ".join(refusals))


def _refuse_overlap(unit: Unit, arrival: date, departure: date) -> None:
    """Another live stay holding one of the unit's own doors (not a shared one, which many stays
    pass through at once) on these dates: a double booking, unless staff say otherwise."""
    shared = UnitDoor.objects.exclude(unit=unit).values("lock")
    own_doors = Lock.objects.filter(unit_doors__unit=unit).exclude(pk__in=shared)
    others = (
        Reservation.objects.filter(cancelled_at__isnull=True, arrival__lt=departure, departure__gt=arrival)
        .filter(unit__unit_doors__lock__in=own_doors)
        .select_related("unit")
        .distinct()
        .order_by("arrival")
    )
    found = list(others[:3])
    if found:
        stays = "; ".join(
            f"{stay.guest_name} in {stay.unit.name}, {format_date(stay.arrival)} → {format_date(stay.departure)}"
            for stay in found
        )
        raise Refused(
            f"These dates overlap a stay already booked: {stays}. Check it is not the same stay twice; to book "
            "this one as well, tick “Book it anyway”.",
            field="allow_overlap",
        )


@transaction.atomic
def reservation_change_dates(
    *,
    reservation: Reservation,
    arrival: date,
    departure: date,
    plan_keys: Mapping[int, str] | None = None,
    user: User | None = None,
    now: datetime | None = None,
) -> tuple[Reservation, list[tuple[Lock, ChangePlan]]]:
    """Move a stay to new dates; returns the stay and the plan applied on each door.

    ``plan_keys`` names, by lock id, the plan chosen for each door (else the preselected one,
    which keeps the door's level). Every plan is recomputed under a row lock on the
    reservation, so a stale or forged choice, a double submit, or two staff changing the same
    stay at once is refused, never applied twice. New codes are queued for creation after
    commit. Raises ``Refused``.
    """
    now = now or timezone.now()
    reservation = Reservation.objects.select_for_update().select_related("unit__site", "site").get(pk=reservation.pk)
    offer = change_offer(reservation=reservation, arrival=arrival, departure=departure, now=now)
    chosen = offer.chosen(plan_keys or {})
    # The doors' row locks (taken after the stay's, as bookings take them alone) serialise the
    # capacity decision with every other booking and change on the doors.
    _lock_doors(reservation.unit)
    _refuse_without_room([(lock, len(plan.new_windows)) for lock, plan in chosen], now)

    before = f"{reservation.arrival:%a %d %b %Y} → {reservation.departure:%a %d %b %Y}"
    reservation.arrival, reservation.departure = arrival, departure
    reservation.full_clean()
    reservation.save(update_fields=["arrival", "departure"])
    change = f"{before} to {arrival:%a %d %b %Y} → {departure:%a %d %b %Y}" + (
        f" by {user.get_username()}" if user else ""
    )
    for lock, plan in chosen:
        _apply_change(reservation, lock, plan, change=change, user=user, now=now)
    _ledger_update(reservation, reason=_ledger_reason(chosen), now=now, user=user)
    return reservation, chosen


def _ledger_reason(chosen: list[tuple[Lock, ChangePlan]]) -> str:
    """A shortening on every door is a shortening; anything else moved the stay."""
    return Reason.SHORTENED if all(plan.kind == "shorten" for _, plan in chosen) else Reason.MOVED


def _apply_change(
    reservation: Reservation, lock: Lock, plan: ChangePlan, *, change: str, user: User | None, now: datetime
) -> None:
    """On one door: supersede (or withdraw) what the plan replaces, request what it adds, note
    what it keeps."""
    for code in AccessCode.objects.filter(pk__in=plan.supersede, reservation=reservation, lock=lock):
        if _withdraw(code, f"Dates changed from {change}: never sent to Seam, withdrawn.", user):
            continue
        AccessCode.objects.filter(pk=code.pk).update(superseded_at=now)
        record(code, Kind.SUPERSEDED, f"Dates changed from {change}. It stays live until it ends.", user=user)
    for window in plan.new_windows:
        access_code_request(reservation=reservation, lock=lock, window=window)
    for code in AccessCode.objects.filter(pk__in=plan.keep, reservation=reservation, lock=lock):
        record(code, Kind.DATES_CHANGED, f"From {change}; this code is kept for the stay.", user=user)


@transaction.atomic
def reservation_cancel(*, reservation: Reservation, user: User | None = None, now: datetime | None = None) -> int:
    """Cancel a stay; returns how many of its codes stay live and go into the ledger.

    Codes never sent to Seam are withdrawn. Every other code keeps working until it ends, so
    it is listed in the door's ledger. Cancelling twice changes nothing the second time.
    """
    now = now or timezone.now()
    reservation = Reservation.objects.select_for_update().get(pk=reservation.pk)
    if reservation.is_cancelled:
        return 0
    reservation.cancelled_at, reservation.cancelled_by = now, user
    reservation.save(update_fields=["cancelled_at", "cancelled_by"])
    attention_clear(reservation)
    by = f" by {user.get_username()}" if user else ""
    for code in AccessCode.objects.filter(reservation=reservation).exclude(status=Status.CANCELLED):
        _withdraw(code, f"Stay cancelled{by}: never sent to Seam, withdrawn.", user)
    return _ledger_update(reservation, reason=Reason.CANCELLED, now=now, user=user)


def attention_clear(reservation: Reservation, *, resolution: str = "") -> None:
    """The stay needs staff no more (it has its codes, or is cancelled): clear its reasons and
    resolve its alert. ``resolution`` says how, when it resolved by itself (its channel moved
    it to dates that work): staff who were emailed about it are told so."""
    if reservation.attention:
        Reservation.objects.filter(pk=reservation.pk).update(attention="")
        reservation.attention = ""
    staff_alerts_resolve(keys=Q(key=stay_alert_key(reservation)), resolution=resolution)


def _withdraw(code: AccessCode, message: str, user: User | None) -> bool:
    """Withdraw a code no create call was ever sent for; False when Seam may hold it."""
    # Races the create task's claim (also conditional on ``pending``): exactly one of them wins.
    withdrawn = AccessCode.objects.filter(
        pk=code.pk, status=Status.PENDING, create_sent=False, seam_access_code_id=""
    ).update(status=Status.CANCELLED, next_check_at=None, claim_expires_at=None, superseded_at=timezone.now())
    if withdrawn:
        record(code, Kind.CANCELLED, message, user=user)
    return bool(withdrawn)


def _ledger_update(reservation: Reservation, *, reason: str, now: datetime, user: User | None) -> int:
    """List the stay's live codes that open the door on unbooked days; returns how many are listed.

    A code whose days are all booked again (a stay shortened, then extended back) leaves the
    ledger. A listed code stays listed with its first reason, unless the stay is cancelled.
    """
    listed = 0
    for code in AccessCode.objects.live(now).filter(reservation=reservation):
        outside = reservation.is_cancelled or opens_outside_stay(
            code, arrival=reservation.arrival, departure=reservation.departure
        )
        if outside:
            listed += 1
            new_reason = Reason.CANCELLED if reservation.is_cancelled else (code.ledger_reason or reason)
            if code.ledger_reason != new_reason:
                AccessCode.objects.filter(pk=code.pk).update(
                    ledger_reason=new_reason, ledger_at=now, acknowledged_at=None, acknowledged_by=None
                )
                label = AccessCode.LedgerReason(new_reason).label
                message = f"{label}: this code opens the door until it ends on days nobody has booked."
                record(code, Kind.LEDGER, message, user=user)
        elif code.ledger_reason:
            AccessCode.objects.filter(pk=code.pk).update(ledger_reason="", ledger_at=None)
            record(code, Kind.LEDGER, "Every day this code opens the door is booked again: off the ledger.", user=user)
    return listed


def ledger_acknowledge(*, access_code: AccessCode, user: User) -> AccessCode:
    """Record that staff know this live code is out there; it stays listed until it expires.

    Raises ``Refused`` for a code not in the ledger.
    """
    if not access_code.ledger_reason:
        raise Refused("This code is not in the ledger.")
    if AccessCode.objects.filter(pk=access_code.pk, acknowledged_at__isnull=True).update(
        acknowledged_at=timezone.now(), acknowledged_by=user
    ):
        record(access_code, Kind.ACKNOWLEDGED, f"Acknowledged by {user.get_username()}.", user=user)
    return AccessCode.objects.get(pk=access_code.pk)


def guest_change_words(field: str, before: str, after: str) -> str:
    """``name Ann → Anne``; a language by its name, "" by "the site's"."""
    if field == "language":
        names = dict(settings.LANGUAGES)
        before, after = (names.get(value, "the site's") for value in (before, after))
    words = {"guest_name": "name", "guest_email": "email", "language": "language"}
    return f"{words[field]} {before} → {after}"


@dataclass(frozen=True)
class GuestCorrection:
    """What ``reservation_update_guest`` did: ``changes`` maps each field it changed
    (``guest_name``, ``guest_email``, ``language``) to its value before and after; ``earlier_email`` is the
    stay's latest code email, sent or on its way, when it went to an address the guest no
    longer has (it is not sent again on its own)."""

    reservation: Reservation
    changes: dict[str, tuple[str, str]]
    earlier_email: CodeEmail | None


@transaction.atomic
def reservation_update_guest(
    *,
    reservation: Reservation,
    guest_name: str,
    guest_email: str,
    language: str | None = None,
    user: User | None = None,
) -> GuestCorrection:
    """Correct the guest's name, email address and (unless None) language ("": the site's);
    returns what changed (nothing, when all are as they were) and, after a new address, the
    code email that went to the old one.

    The change is recorded in the history of each of the stay's current codes. No email is sent:
    whether the guest should get the code at the new address is for staff to decide. Raises
    ``Refused`` for a cancelled stay.
    """
    reservation = Reservation.objects.select_for_update().get(pk=reservation.pk)
    if reservation.is_cancelled:
        raise Refused("This reservation is cancelled; its guest details cannot change.")
    wanted = [("guest_name", guest_name.strip()), ("guest_email", guest_email.strip())]
    if language is not None:
        wanted.append(("language", language))
    changes = {field: (before, after) for field, after in wanted if (before := getattr(reservation, field)) != after}
    if not changes:
        return GuestCorrection(reservation=reservation, changes={}, earlier_email=None)
    for field, (_, after) in changes.items():
        setattr(reservation, field, after)
    reservation.full_clean()
    reservation.save(update_fields=list(changes))

    # The codes keep their names ("R<pk> <guest>"), old guest name and all. Seam knows a code
    # by the name it was created under: after an ambiguous create (a timeout, a dead worker) the
    # next attempt looks the code up on the door by that name, and a renamed row would miss it
    # and create a second code, which could never be revoked. An Oracode code cannot be renamed
    # at Seam either. Codes requested from now on carry the new name.
    said = "; ".join(guest_change_words(field, before, after) for field, (before, after) in changes.items())
    message = f"{said[:1].upper()}{said[1:]}. The code keeps its name at Seam."
    for code in AccessCode.objects.current().filter(reservation=reservation).order_by("pk"):
        record(code, Kind.GUEST_CHANGED, message, user=user)

    earlier_email = None
    if "guest_email" in changes:
        # The latest email that reached (or is on its way to) the guest; a failed one did not.
        latest = (
            CodeEmail.objects.filter(access_code__reservation=reservation)
            .exclude(status=CodeEmail.Status.FAILED)
            .order_by("-requested_at", "-pk")
            .first()
        )
        if latest is not None and latest.to_address != reservation.guest_email:
            earlier_email = latest
    return GuestCorrection(reservation=reservation, changes=changes, earlier_email=earlier_email)
