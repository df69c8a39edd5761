from django.apps import AppConfig
from django.core import checks


class ApiConfig(AppConfig):
    """The REST API for property-management systems: units, their windows, reservations, codes
    and calendar feeds, with token auth and the same per-site rules as the staff pages."""

    name = "api"
    verbose_name = "REST API"

    def ready(self) -> None:
        from api.checks import api_throttle_rate_check

        checks.register(api_throttle_rate_check)
