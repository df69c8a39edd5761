"""A mistyped ``API_THROTTLE_RATE`` fails ``manage.py check`` (and every start), not each call."""

import re
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error

# DRF's form: a count, then a period it reads by its first letter (s, m, h, d).
_RATE = re.compile(r"[0-9]+/[smhd][a-z]*")


def api_throttle_rate_check(**kwargs: Any) -> list[CheckMessage]:
    rate = settings.API_THROTTLE_RATE
    if isinstance(rate, str) and _RATE.fullmatch(rate):
        return []
    return [
        Error(
            f"API_THROTTLE_RATE is {rate!r}: it must be a number of calls per second, minute, hour or day, "
            "such as 600/minute.",
            id="api.E001",
        )
    ]
