from datetime import date

from django.db import transaction

from codes.models import AccessCode
from codes.services import access_code_request
from codes.windows import Window
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
    window: Window,
) -> tuple[Reservation, AccessCode]:
    """Save a stay and request its offline code for ``window`` (created at Seam after commit).

    ``window`` must come from ``offer_windows`` for this door and these dates.
    """
    reservation = Reservation(
        site=site, lock=lock, guest_name=guest_name, guest_email=guest_email, arrival=arrival, departure=departure
    )
    reservation.full_clean()
    reservation.save()
    access_code = access_code_request(reservation=reservation, window=window)
    return reservation, access_code
