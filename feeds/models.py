from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db import models


def validate_feed_url(value: str) -> None:
    """Only http and https: a feed is fetched, and no other scheme may reach this server's files
    or other services."""
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValidationError("A calendar feed address starts with https:// (or http://) and names a host.")


class CalendarFeed(models.Model):
    """A channel's iCal export of one unit's bookings (Airbnb, Vrbo, Booking.com, or any other).

    Synced on a schedule and on demand (:mod:`feeds.sync`). The fetch is conditional (the last
    ``etag`` and ``last_modified``), and a body the same as the last one (``body_sha256``)
    changes nothing. A failed sync changes nothing either: its error is kept beside the time of
    the last good one.
    """

    class Channel(models.TextChoices):
        AIRBNB = "airbnb", "Airbnb"
        VRBO = "vrbo", "Vrbo"
        BOOKING = "booking", "Booking.com"
        OTHER = "other", "Other"

    unit = models.ForeignKey("properties.Unit", on_delete=models.CASCADE, related_name="feeds")
    channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.OTHER)
    url = models.URLField(max_length=2000, validators=[validate_feed_url], verbose_name="feed URL")
    active = models.BooleanField(default=True, help_text="Synced on the schedule; an inactive feed changes nothing.")
    etag = models.CharField(max_length=500, blank=True, editable=False)
    last_modified = models.CharField(max_length=100, blank=True, editable=False)
    body_sha256 = models.CharField(max_length=64, blank=True, editable=False)
    last_checked_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_success_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_error = models.TextField(blank=True, editable=False)
    # When it began failing: kept from the first failed sync after a good one ("failing since").
    last_error_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Stays the feed stopped listing when it suddenly listed far fewer than before: nothing is
    # cancelled until staff confirm (a channel's outage must not cancel a building's stays).
    held_removals = models.JSONField(default=list, blank=True, editable=False)
    held_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["unit__name", "pk"]
        constraints = [models.UniqueConstraint(fields=["unit", "url"], name="feed_unique_url_per_unit")]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} feed of {self.unit}"

    @property
    def is_failing(self) -> bool:
        """The last sync failed (and none succeeded after it)."""
        return bool(self.last_error) and (
            self.last_success_at is None
            or (self.last_error_at is not None and self.last_error_at >= self.last_success_at)
        )


class FeedStay(models.Model):
    """A stay a feed lists: its event's UID and the reservation it made (or found). What a feed
    stops listing is exactly its own stays, so two feeds of one unit never cancel each other's."""

    feed = models.ForeignKey(CalendarFeed, on_delete=models.CASCADE, related_name="stays")
    uid = models.CharField(max_length=255)
    reservation = models.ForeignKey("properties.Reservation", on_delete=models.CASCADE, related_name="feed_stays")
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["feed", "uid"], name="feed_stay_unique_uid")]

    def __str__(self) -> str:
        return self.uid
