"""A stay's guest page link: signed, unguessable, no login, revocable.

The link carries the ``GuestLink``'s random ``public_id`` with a signature (Django's signing,
keyed by ``SECRET_KEY``, salted for this use): a tampered or made-up link fails the signature
before any lookup, and a revoked one is no longer found. A stay has one live link, the one its
emails carry; staff revoke it and make a new one (``guest_link_renew``).
"""

import secrets
from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import User
from django.core import signing
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from codes.models import GuestLink
from codes.windows import check_in_at
from properties.models import Reservation

_SIGNER_SALT = "codes.guestlinks"


def _signer() -> signing.Signer:
    return signing.Signer(salt=_SIGNER_SALT)


def guest_link_for(reservation: Reservation, *, user: User | None = None) -> GuestLink:
    """The stay's live link, made now if it has none. Race-safe: of two requests making one at
    once, one insert wins (``guest_link_one_live_per_stay``) and the other reads it."""
    live = GuestLink.objects.filter(reservation=reservation, revoked_at__isnull=True).first()
    if live is not None:
        return live
    try:
        with transaction.atomic():
            return GuestLink.objects.create(
                reservation=reservation, public_id=secrets.token_urlsafe(24), created_by=user
            )
    except IntegrityError:
        return GuestLink.objects.get(reservation=reservation, revoked_at__isnull=True)


def guest_link_live(*, reservation: Reservation) -> GuestLink | None:
    """The stay's live link with who made it, for staff; None when it has none (never made, or revoked)."""
    return (
        GuestLink.objects.filter(reservation=reservation, revoked_at__isnull=True).select_related("created_by").first()
    )


def guest_link_renew(reservation: Reservation, *, user: User | None) -> GuestLink:
    """Revoke the stay's live link (it answers 404 from now on) and make a new one; returns it."""
    with transaction.atomic():
        guest_link_revoke(reservation, user=user)
        return guest_link_for(reservation, user=user)


def guest_link_revoke(reservation: Reservation, *, user: User | None) -> int:
    """Revoke the stay's live link without making another; returns how many were revoked (0 or 1)."""
    return GuestLink.objects.filter(reservation=reservation, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_by=user
    )


def guest_link_token(link: GuestLink) -> str:
    """What the link's URL carries: the public id and its signature."""
    return _signer().sign(link.public_id)


def guest_link_path(link: GuestLink) -> str:
    return reverse("guest_page", args=[guest_link_token(link)])


def guest_link_url(link: GuestLink) -> str:
    """The absolute URL, for emails (sent by workers, with no request to take the host from)."""
    return f"{settings.APP_BASE_URL}{guest_link_path(link)}"


def guest_link_resolve(token: str) -> GuestLink | None:
    """The live link a URL's token names; None when it is tampered with, made up or revoked."""
    try:
        public_id = _signer().unsign(token)
    except signing.BadSignature:
        return None
    return (
        GuestLink.objects.filter(public_id=public_id, revoked_at__isnull=True)
        .select_related("reservation__site", "reservation__unit")
        .first()
    )


def pins_shown_from(reservation: Reservation) -> datetime:
    """When the guest page starts showing PINs: the unit's check-in time on the arrival date,
    ``guest_page_days_before`` days earlier (or the email's ``guest_email_days_before`` when the
    site left it empty), by the site's clocks."""
    site = reservation.site
    days = site.guest_page_days_before if site.guest_page_days_before is not None else site.guest_email_days_before
    return check_in_at(reservation, days_before=days)
