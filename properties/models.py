from datetime import time
from typing import Any
from zoneinfo import available_timezones

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower


def validate_iana_timezone(value: str) -> None:
    if value not in available_timezones():
        raise ValidationError(f"“{value}” is not an IANA time zone name such as Europe/Paris.")


class Site(models.Model):
    """A property. Maps to one dormakaba Oracode site connected to Seam."""

    class GuestEmailPolicy(models.TextChoices):
        """When the guest's code email goes out on its own (never before every code is set)."""

        BEFORE_ARRIVAL = "before_arrival", "A set time before arrival"
        WHEN_SET = "when_set", "As soon as every code is set"
        STAFF = "staff", "Never: staff send it"

    name = models.CharField(max_length=200)
    timezone = models.CharField(
        max_length=64, validators=[validate_iana_timezone], help_text="IANA time zone, e.g. America/Los_Angeles."
    )
    dormakaba_site_name = models.CharField(
        max_length=200, blank=True, help_text="The site name in dormakaba Oracode, as Seam reports it."
    )
    staff = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="sites")
    guest_email_policy = models.CharField(
        max_length=16,
        choices=GuestEmailPolicy.choices,
        default=GuestEmailPolicy.BEFORE_ARRIVAL,
        help_text="When the guest's code email is sent on its own; never before every code is set.",
    )
    guest_email_days_before = models.PositiveSmallIntegerField(
        default=3,
        validators=[MaxValueValidator(60)],
        help_text="Days before the unit's check-in time that the email is due (0 to 60). Staff are told by "
        "then when a guest has no email address.",
    )
    guest_page_days_before = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MaxValueValidator(60)],
        help_text="Days before the unit's check-in time that the guest page starts showing the PINs (0 to 60). "
        "Empty: the same as the email.",
    )
    language = models.CharField(
        max_length=8,
        choices=settings.LANGUAGES,
        default="en",
        help_text="The guests' language unless a reservation says otherwise: their email and guest page.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["dormakaba_site_name"],
                condition=~Q(dormakaba_site_name=""),
                name="site_unique_dormakaba_site_name",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Unit(models.Model):
    """What is rented: a room, an apartment, a cabin. Its guests open every door of the unit:
    its own door(s) and shared ones (a street door, a gate), each a door of many units."""

    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="units")
    name = models.CharField(max_length=200)
    check_in_time = models.TimeField(
        default=time(15), help_text="Standard check-in: each door's window closest to it is preselected."
    )
    check_out_time = models.TimeField(default=time(11), help_text="Standard check-out.")
    doors: "models.ManyToManyField[Any, UnitDoor]" = models.ManyToManyField(
        "locks.Lock", through="UnitDoor", related_name="units"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["site__name", "name"]
        constraints = [models.UniqueConstraint(fields=["site", "name"], name="unit_unique_name_per_site")]

    def __str__(self) -> str:
        return self.name


class UnitDoor(models.Model):
    """One door of a unit, in the order a guest walks through them (street door first)."""

    unit = models.ForeignKey(Unit, on_delete=models.CASCADE, related_name="unit_doors")
    lock = models.ForeignKey("locks.Lock", on_delete=models.PROTECT, related_name="unit_doors")
    position = models.PositiveSmallIntegerField(default=0, help_text="Where the guest meets it: lowest first.")
    optional = models.BooleanField(
        default=False,
        help_text="A shared door a stay may go without when it offers no window for the dates (a gym, a pool).",
    )

    class Meta:
        ordering = ["position", "pk"]
        constraints = [models.UniqueConstraint(fields=["unit", "lock"], name="unit_door_once")]

    def __str__(self) -> str:
        return f"{self.unit} · {self.lock}"

    def clean(self) -> None:
        if self.unit_id and self.lock_id and self.lock.site_id != self.unit.site_id:
            raise ValidationError({"lock": "This door belongs to another site."})


class Reservation(models.Model):
    class Source(models.TextChoices):
        STAFF = "staff", "Staff"
        API = "api", "API"
        FEED = "feed", "Calendar feed"

    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="reservations")
    unit = models.ForeignKey(Unit, on_delete=models.PROTECT, related_name="reservations")
    guest_name = models.CharField(max_length=200)
    # A channel may not give the guest's address (calendar feeds never do).
    guest_email = models.EmailField(blank=True)
    language = models.CharField(
        max_length=8,
        choices=settings.LANGUAGES,
        blank=True,
        help_text="The guest's language for the email and the guest page. Empty: the site's.",
    )
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.STAFF, editable=False)
    # The stay's id where it came from: a calendar event's UID, or the PMS's id sent to the
    # API. Unique per unit, so a stay that arrives twice (a retry, a feed and the API) is one.
    external_id = models.CharField(max_length=255, blank=True)
    # Why a stay that arrived on its own has no codes (yet), or could not follow a change: each
    # door's reasons, for staff to act on. Empty when nothing is wrong.
    attention = models.TextField(blank=True, editable=False)
    arrival = models.DateField()
    departure = models.DateField()
    # The booking form's one-time key: the same form submitted twice (a double click, the back
    # button, a retry) books one stay, not two whose codes could never be revoked.
    request_key = models.CharField(max_length=64, blank=True, editable=False)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["arrival", "guest_name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(departure__gt=F("arrival")), name="reservation_departure_after_arrival"
            ),
            models.UniqueConstraint(
                fields=["request_key"], condition=~Q(request_key=""), name="reservation_unique_request_key"
            ),
            models.UniqueConstraint(
                fields=["unit", "external_id"],
                condition=~Q(external_id=""),
                name="reservation_unique_external_id_per_unit",
            ),
        ]
        indexes = [
            models.Index(fields=["site", "arrival"]),
            models.Index(fields=["site"], condition=~Q(attention=""), name="reservation_needs_attention"),
            # One per order of the reservation list (codes.selectors._ORDERINGS), so that a page
            # reads its rows in order instead of sorting every stay of the sites. The newest
            # arrivals first reads the first one backwards, sorting only the stays of a day.
            models.Index(F("arrival"), Lower("guest_name"), F("id"), name="reservation_by_arrival"),
            models.Index(Lower("guest_name"), F("arrival"), F("id"), name="reservation_by_guest"),
            models.Index(fields=["created_at", "id"], name="reservation_by_booking"),
            # Who is in house or leaving today: the stays that have not left, not the years of
            # stays before them (arrival <= today alone reads all of those).
            models.Index(fields=["site", "departure"], name="reservation_site_departure"),
        ]

    def __str__(self) -> str:
        return f"{self.guest_name} · {self.arrival:%d %b} → {self.departure:%d %b %Y}"

    @property
    def is_cancelled(self) -> bool:
        return self.cancelled_at is not None

    @property
    def guest_language(self) -> str:
        """The language the guest reads: the reservation's, or else its site's."""
        return self.language or self.site.language

    @property
    def needs_attention(self) -> bool:
        return bool(self.attention)

    @property
    def nights(self) -> int:
        return (self.departure - self.arrival).days

    def clean(self) -> None:
        if self.arrival and self.departure and self.departure <= self.arrival:
            raise ValidationError({"departure": "Departure must be at least one day after arrival."})
        if self.unit_id and self.site_id and self.unit.site_id != self.site_id:
            raise ValidationError({"unit": "This unit belongs to another site."})


class SiteMessage(models.Model):
    """What staff wrote for a site's guests in one language: the code email's subject and body,
    and the guest page's directions, in the placeholder language of ``codes.placeholders``.

    An empty subject or body means the built-in text (translated); empty directions show none.
    """

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="messages")
    language = models.CharField(max_length=8, choices=settings.LANGUAGES)
    email_subject = models.CharField(max_length=300, blank=True)
    email_body = models.TextField(blank=True)
    directions = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["site__name", "language"]
        constraints = [models.UniqueConstraint(fields=["site", "language"], name="site_message_one_per_language")]

    def __str__(self) -> str:
        return f"{self.site} · {self.get_language_display()}"
