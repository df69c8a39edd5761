from zoneinfo import available_timezones

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q


def validate_iana_timezone(value: str) -> None:
    if value not in available_timezones():
        raise ValidationError(f"“{value}” is not an IANA time zone name such as Europe/Paris.")


class Site(models.Model):
    """A property. Maps to one dormakaba Oracode site connected to Seam."""

    name = models.CharField(max_length=200)
    timezone = models.CharField(
        max_length=64, validators=[validate_iana_timezone], help_text="IANA time zone, e.g. America/Los_Angeles."
    )
    dormakaba_site_name = models.CharField(
        max_length=200, blank=True, help_text="The site name in dormakaba Oracode, as Seam reports it."
    )
    staff = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="sites")
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


class Reservation(models.Model):
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="reservations")
    lock = models.ForeignKey("locks.Lock", on_delete=models.PROTECT, related_name="reservations")
    guest_name = models.CharField(max_length=200)
    guest_email = models.EmailField()
    arrival = models.DateField()
    departure = models.DateField()
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
        ]
        indexes = [models.Index(fields=["site", "arrival"])]

    def __str__(self) -> str:
        return f"{self.guest_name} · {self.arrival:%d %b} → {self.departure:%d %b %Y}"

    @property
    def is_cancelled(self) -> bool:
        return self.cancelled_at is not None

    @property
    def nights(self) -> int:
        return (self.departure - self.arrival).days

    def clean(self) -> None:
        if self.arrival and self.departure and self.departure <= self.arrival:
            raise ValidationError({"departure": "Departure must be at least one day after arrival."})
        if self.lock_id and self.site_id and self.lock.site_id != self.site_id:
            raise ValidationError({"lock": "This door belongs to another site."})
