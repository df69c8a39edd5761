from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from codes.changes import capacity_refusal
from codes.models import AccessCode
from codes.plans import Plan
from codes.services import access_code_request
from codes.windows import Window, check_stay
from locks.models import Lock
from properties.models import Reservation, Site


@transaction.atomic
def reservation_create(
    *,
    site: Site,
    lock: Lock,
    guest_name: str,
    guest_email: str,
    arrival: date,
    departure: date,
    window: Window | Plan,
) -> tuple[Reservation, AccessCode]:
    """Save a stay and request its offline codes (created at Seam after commit); returns the
    stay and its first code.

    ``window`` is one window from ``offer_windows`` or a plan from ``offer_plans`` (a chain for
    a long stay) for this door and these dates. Raises ValidationError when the door's time
    zones disagree, it has no room for the codes, or the dates are out of bounds (see
    ``check_stay``).
    """
    check_stay(arrival, departure, today=timezone.now().date())
    plan = window if isinstance(window, Plan) else Plan((window,))
    # The door's row lock serialises the capacity decision: bookings at once on a door with one
    # place left would otherwise each count the same live codes and all go through.
    lock = Lock.objects.select_for_update().select_related("site").get(pk=lock.pk)
    if lock.timezone_problem:
        raise ValidationError(f"No codes can be made for {lock.name}: {lock.timezone_problem}")
    refusal = capacity_refusal(lock, needed=len(plan.windows))
    if refusal:
        raise ValidationError(refusal)
    reservation = Reservation(
        site=site, lock=lock, guest_name=guest_name, guest_email=guest_email, arrival=arrival, departure=departure
    )
    reservation.full_clean()
    reservation.save()
    codes = [access_code_request(reservation=reservation, window=w) for w in plan.windows]
    return reservation, codes[0]
