from django.apps import AppConfig


class GuestsConfig(AppConfig):
    """The guest's own page: a stay's doors, windows and PINs behind a signed link, no login."""

    name = "guests"
