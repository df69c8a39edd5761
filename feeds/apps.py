from django.apps import AppConfig


class FeedsConfig(AppConfig):
    """Channel calendar feeds (Airbnb, Vrbo, Booking.com iCal exports): their stays become
    reservations with codes, their changes and cancellations follow."""

    name = "feeds"
    verbose_name = "Calendar feeds"
