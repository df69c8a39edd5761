"""Syncing a feed: its stays become reservations with codes, and follow the channel.

Each event's UID is the stay's external id in the unit. A new event books a stay through
:func:`codes.imports.reservation_import` (each door's preselected window, or a stay flagged for
staff); new dates go through :func:`codes.imports.reservation_follow_dates`, the planner staff
changes use; an event the feed stops listing cancels its stay through
:func:`codes.stays.reservation_cancel` (its codes go to the ledger). Past stays and blocked
dates are not stays.

A feed that fails changes nothing; one that keeps failing for ``FEEDS_ALERT_AFTER_MINUTES``
alerts the site's staff (once), and the alert resolves itself, telling them, when the feed syncs
again. A feed that suddenly lists none, or far fewer, of the future stays it listed before (a
channel's outage, a wrong link pasted) cancels nothing: the removals are held until staff confirm
them. An unchanged feed (304, or the same body) writes nothing.
"""

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext

from codes.alerts import staff_alert_raise, staff_alerts_resolve
from codes.errors import Refused
from codes.imports import reservation_follow_dates, reservation_import
from codes.localtime import format_local, zone_abbreviation
from codes.models import StaffAlert
from codes.stays import reservation_cancel
from feeds.fetching import fetch_feed
from feeds.models import CalendarFeed, FeedStay
from feeds.parsing import FeedEvent, parse_feed
from properties.models import Reservation, Unit

logger = logging.getLogger(__name__)

# A sync that would drop more than this share of the future stays the feed listed (or all of
# them) is held for staff to confirm.
HOLD_SHARE = 0.5


@dataclass
class SyncResult:
    """What one sync did, for the page, the command and the admin."""

    feed: CalendarFeed
    unchanged: bool = False
    error: str = ""
    booked: int = 0
    needs_attention: int = 0
    moved: int = 0
    cancelled: int = 0
    held: int = 0
    blocked: int = 0
    skipped: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        if self.error:
            return f"failed: {self.error}"
        if self.unchanged:
            return "unchanged"
        said = [
            f"{count} {words}"
            for count, words in (
                (self.booked, "booked"),
                (self.needs_attention, "need attention"),
                (self.moved, "moved"),
                (self.cancelled, "cancelled"),
                (self.held, "removals held for confirmation"),
                (self.blocked, "blocked periods ignored"),
            )
            if count
        ]
        return ", ".join(said + self.skipped) or "nothing to do"


def feed_create(*, unit: Unit, url: str, channel: str = "") -> CalendarFeed:
    """Add a feed to a unit (the channel guessed from the URL's host when not given); raises
    ``Refused`` for an address that is not http(s) or is the unit's already."""
    url = url.strip()
    feed = CalendarFeed(unit=unit, url=url, channel=channel or channel_of(url))
    try:
        feed.full_clean()
    except ValidationError as exc:
        said = [message for messages in exc.message_dict.values() for message in messages]
        raise Refused(" ".join(said) or "This feed address cannot be used.", field="url") from exc
    try:
        with transaction.atomic():
            feed.save()
    except IntegrityError as exc:
        # The same link added twice at once: the other request added it.
        raise Refused("This unit has this feed already.", field="url") from exc
    return feed


def channel_of(url: str) -> str:
    """The channel a feed URL belongs to, by its host."""
    host = (urlsplit(url).hostname or "").lower()
    for channel, marks in (
        (CalendarFeed.Channel.AIRBNB, ("airbnb.",)),
        (CalendarFeed.Channel.VRBO, ("vrbo.", "homeaway.", "abritel.", "fewo-direkt.")),
        (CalendarFeed.Channel.BOOKING, ("booking.com",)),
    ):
        if any(mark in host for mark in marks):
            return channel
    return CalendarFeed.Channel.OTHER


def last_checked(feed: CalendarFeed) -> datetime | None:
    """When the feed was last fetched without error, changed or not (kept in the cache, so an
    unchanged feed costs no database write)."""
    checked = cache.get(_checked_key(feed))
    return checked if isinstance(checked, datetime) else feed.last_success_at


def _checked_key(feed: CalendarFeed) -> str:
    return f"feeds:checked:{feed.pk}"


def feed_sync(*, feed: CalendarFeed, now: datetime | None = None) -> SyncResult:
    """Fetch the feed and bring its unit's stays in line with it; returns what was done.

    Never raises for the feed's own faults (unreachable, not iCal, too big): those are kept on
    the feed as its last error, with when it began failing (``last_error_at``), and change
    nothing else.
    """
    now = now or timezone.now()
    result = SyncResult(feed=feed)
    was_failing = feed.is_failing
    try:
        fetched = fetch_feed(feed.url, etag=feed.etag, last_modified=feed.last_modified)
        digest = hashlib.sha256(fetched.body).hexdigest() if fetched.body is not None else feed.body_sha256
        if fetched.body is None or (digest == feed.body_sha256 and not feed.is_failing and not feed.held_removals):
            if feed.is_failing:
                # The channel answers again, with what it listed before: no longer failing.
                CalendarFeed.objects.filter(pk=feed.pk).update(last_error="", last_error_at=None, last_success_at=now)
                feed.last_error, feed.last_error_at, feed.last_success_at = "", None, now
                _failing_resolve(feed)
            cache.set(_checked_key(feed), now, timeout=None)
            result.unchanged = True
            return result
        known_channel = "" if feed.channel == CalendarFeed.Channel.OTHER else feed.channel
        events = parse_feed(fetched.body, channel=known_channel)
    except Refused as refusal:
        # Kept from the first failure on: how long the feed has failed is what staff need.
        since = feed.last_error_at if feed.is_failing and feed.last_error_at else now
        CalendarFeed.objects.filter(pk=feed.pk).update(last_error=refusal.message, last_error_at=since)
        feed.last_error, feed.last_error_at = refusal.message, since
        logger.warning("Feed %s failed: %s", feed.pk, refusal.message)
        result.error = refusal.message
        if since <= now - timedelta(minutes=settings.FEEDS_ALERT_AFTER_MINUTES):
            _failing_alert(feed)
        return result
    _apply(feed, events, result, now)
    CalendarFeed.objects.filter(pk=feed.pk).update(
        etag=fetched.etag,
        last_modified=fetched.last_modified,
        body_sha256=digest,
        last_success_at=now,
        last_checked_at=now,
        last_error="",
        last_error_at=None,
    )
    cache.set(_checked_key(feed), now, timeout=None)
    feed.refresh_from_db()
    if was_failing:
        _failing_resolve(feed)
    return result


def _failing_key(feed: CalendarFeed) -> str:
    return f"{StaffAlert.Kind.FEED_FAILING}:{feed.pk}"


def _failing_alert(feed: CalendarFeed) -> StaffAlert:
    """The feed has failed for a while: once, until it syncs again (the alert's key)."""
    site = feed.unit.site
    since = feed.last_error_at or timezone.now()
    local = since.astimezone(ZoneInfo(site.timezone))
    words = {
        "channel": feed.get_channel_display(),
        "unit": feed.unit.name,
        "since": f"{format_local(local)} {zone_abbreviation(local)}",
        "error": feed.last_error,
    }
    return staff_alert_raise(
        site=site,
        kind=StaffAlert.Kind.FEED_FAILING,
        key=_failing_key(feed),
        message=gettext(
            "The %(channel)s feed of %(unit)s has failed since %(since)s: %(error)s Its stays stay as they were, "
            "but new bookings, changes and cancellations at %(channel)s are not followed until it syncs again. "
            "Check the feed's link on the unit's page."
        )
        % words,
    )


def _failing_resolve(feed: CalendarFeed) -> int:
    words = {"channel": feed.get_channel_display(), "unit": feed.unit.name}
    return staff_alerts_resolve(
        keys=Q(key=_failing_key(feed)),
        resolution=gettext("Resolved: the %(channel)s feed of %(unit)s syncs again.") % words,
    )


@transaction.atomic
def _apply(feed: CalendarFeed, events: list[FeedEvent], result: SyncResult, now: datetime) -> None:
    # One sync of a feed at a time: the beat's and a button's never interleave.
    feed = CalendarFeed.objects.select_for_update().select_related("unit__site").get(pk=feed.pk)
    today = now.astimezone(ZoneInfo(feed.unit.site.timezone)).date()
    listed = {}
    for event in events:
        if event.blocked:
            result.blocked += 1
        elif event.departure > today:  # past stays are not imported, nor followed
            listed[event.uid] = event
    known = {stay.uid: stay for stay in feed.stays.select_related("reservation")}
    for uid, event in listed.items():
        stay = known.get(uid)
        try:
            with transaction.atomic():
                if stay is None:
                    _book(feed, event, result, now)
                elif not stay.reservation.is_cancelled:
                    _follow(stay, event, result, now)
                elif stay.removed_at is not None and stay.reservation.departure >= event.arrival:
                    # Dropped by the feed and cancelled here, now listed again: a cancelled stay
                    # is never revived on its own (its codes went to the ledger); staff decide.
                    result.skipped.append(
                        f"{stay.reservation.guest_name} ({event.arrival:%d %b} → {event.departure:%d %b %Y}) is "
                        "listed again but was cancelled here: book it again if it is back"
                    )
        except Refused as refusal:
            result.skipped.append(f"{event.arrival:%d %b} → {event.departure:%d %b %Y}: {refusal.message}")
    _remove_unlisted(feed, known, listed, result, now, today)


def _book(feed: CalendarFeed, event: FeedEvent, result: SyncResult, now: datetime) -> None:
    imported = reservation_import(
        unit=feed.unit,
        guest_name=event.guest_name,
        guest_email="",
        arrival=event.arrival,
        departure=event.departure,
        external_id=event.uid,
        source=Reservation.Source.FEED,
        now=now,
    )
    FeedStay.objects.get_or_create(feed=feed, uid=event.uid, defaults={"reservation": imported.reservation})
    if imported.created:
        result.booked += 1
        result.needs_attention += int(imported.needs_attention)
    elif (imported.reservation.arrival, imported.reservation.departure) != (event.arrival, event.departure):
        # Booked before under this id (by the API, or a feed of this unit before): follow the feed.
        stay = FeedStay.objects.select_related("reservation").get(feed=feed, uid=event.uid)
        _follow(stay, event, result, now)


def _follow(stay: FeedStay, event: FeedEvent, result: SyncResult, now: datetime) -> None:
    reservation = stay.reservation
    if stay.removed_at is not None:
        FeedStay.objects.filter(pk=stay.pk).update(removed_at=None)
    if (reservation.arrival, reservation.departure) == (event.arrival, event.departure):
        return
    moved = reservation_follow_dates(
        reservation=reservation, arrival=event.arrival, departure=event.departure, now=now
    )
    result.moved += int((moved.arrival, moved.departure) == (event.arrival, event.departure))
    result.needs_attention += int(moved.needs_attention)


def _remove_unlisted(
    feed: CalendarFeed,
    known: dict[str, FeedStay],
    listed: dict[str, FeedEvent],
    result: SyncResult,
    now: datetime,
    today: date,
) -> None:
    """Cancel the future stays the feed no longer lists, or hold them when that is most of them."""
    future = [
        stay
        for stay in known.values()
        if stay.removed_at is None and not stay.reservation.is_cancelled and stay.reservation.departure > today
    ]
    gone = [stay for stay in future if stay.uid not in listed]
    still_listed = len(future) - len(gone)
    if not gone:
        _release_hold(feed, by_itself=True)
        return
    if still_listed == 0 or (len(gone) >= 2 and len(gone) > HOLD_SHARE * len(future)):
        _hold(feed, gone, len(future), now)
        result.held = len(gone)
        return
    _release_hold(feed, by_itself=True)
    for stay in gone:
        _cancel(stay, now, user=None)
        result.cancelled += 1


def _hold(feed: CalendarFeed, gone: list[FeedStay], listed_before: int, now: datetime) -> None:
    ids = sorted(stay.reservation_id for stay in gone)
    if feed.held_removals != ids:
        CalendarFeed.objects.filter(pk=feed.pk).update(held_removals=ids, held_at=now)
        feed.held_removals, feed.held_at = ids, now
    staff_alert_raise(
        site=feed.unit.site,
        kind=StaffAlert.Kind.FEED_HELD,
        key=_hold_key(feed),
        message=(
            f"The {feed.get_channel_display()} feed of {feed.unit.name} no longer lists {len(ids)} of the "
            f"{listed_before} future stays it listed. Nothing was cancelled: if the channel really cancelled "
            "them, confirm on the unit's page; if the feed is wrong, check its link."
        ),
    )


def _release_hold(feed: CalendarFeed, *, by_itself: bool) -> None:
    """Nothing is held any more: by the feed itself listing its stays again (staff who were
    emailed hear so), or by staff confirming the removals (they know)."""
    if feed.held_removals:
        CalendarFeed.objects.filter(pk=feed.pk).update(held_removals=[], held_at=None)
        feed.held_removals, feed.held_at = [], None
    resolution = ""
    if by_itself:
        resolution = gettext(
            "Resolved: the %(channel)s feed of %(unit)s no longer drops many stays at once; nothing waits for "
            "confirmation."
        ) % {"channel": feed.get_channel_display(), "unit": feed.unit.name}
    staff_alerts_resolve(keys=_hold_query(feed), resolution=resolution)


def _hold_key(feed: CalendarFeed) -> str:
    return f"{StaffAlert.Kind.FEED_HELD}:{feed.pk}"


def _hold_query(feed: CalendarFeed) -> Q:
    return Q(key=_hold_key(feed))


def _cancel(stay: FeedStay, now: datetime, user: User | None) -> None:
    reservation_cancel(reservation=stay.reservation, user=user, now=now)
    FeedStay.objects.filter(pk=stay.pk).update(removed_at=now)


@transaction.atomic
def feed_removals_confirm(*, feed: CalendarFeed, user: User | None, now: datetime | None = None) -> int:
    """Apply the removals a sync held: cancel those stays (their codes go to the ledger); returns
    how many were cancelled. Raises ``Refused`` when nothing is held."""
    now = now or timezone.now()
    feed = CalendarFeed.objects.select_for_update().select_related("unit__site").get(pk=feed.pk)
    if not feed.held_removals:
        raise Refused("This feed has no cancellations waiting for confirmation.")
    stays = FeedStay.objects.filter(feed=feed, reservation_id__in=feed.held_removals).select_related("reservation")
    cancelled = 0
    for stay in stays:
        if not stay.reservation.is_cancelled:
            _cancel(stay, now, user)
            cancelled += 1
    _release_hold(feed, by_itself=False)
    return cancelled
