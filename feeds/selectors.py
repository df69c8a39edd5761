"""Reads of feeds for the staff pages, limited to the person's sites."""

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db.models import Q, QuerySet
from django.shortcuts import get_object_or_404

from feeds.models import CalendarFeed
from properties.models import Reservation
from properties.selectors import sites_for_user

User = AbstractBaseUser | AnonymousUser


def feeds_for_user(*, user: User) -> QuerySet[CalendarFeed]:
    return (
        CalendarFeed.objects.filter(unit__site__in=sites_for_user(user=user))
        .select_related("unit__site")
        .order_by("unit__site__name", "unit__name", "pk")
    )


def feed_for_user(*, user: User, pk: int) -> CalendarFeed:
    """One feed of the person's sites; 404 otherwise."""
    return get_object_or_404(feeds_for_user(user=user), pk=pk)


def feeds_in_trouble_for_user(*, user: User) -> QuerySet[CalendarFeed]:
    """Active feeds whose last sync failed, or whose removals wait for staff to confirm, for the
    dashboard."""
    return feeds_for_user(user=user).filter(active=True).filter(~Q(last_error="") | ~Q(held_removals=[]))


def held_reservations(feed: CalendarFeed) -> list[Reservation]:
    """The stays a feed stopped listing, waiting for staff to confirm their cancellation."""
    return list(
        Reservation.objects.filter(pk__in=feed.held_removals, cancelled_at__isnull=True).order_by("arrival", "pk")
    )
