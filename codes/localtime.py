"""A lock's local times in words, for staff and guests: ``Tue 10 Sep 15:00 → Sun 15 Sep 11:00
(America/Los_Angeles, PDT)``.

In the active language (``django.utils.translation``): English names by default, whatever the
locale of the process, and a guest's own language where the guest's email or page activates
it (``Di., 10. Sep. 15:00`` in German). Times are 24-hour in every language.
"""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.utils import translation
from django.utils.dateformat import format as django_date_format

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def nights_text(nights: int) -> str:
    return f"{nights} night" if nights == 1 else f"{nights} nights"


def format_time(value: time) -> str:
    return value.strftime("%H:%M:%S" if value.second else "%H:%M")


# A day in each guest language, in Django's date format characters (``D`` the weekday's and
# ``M`` the month's abbreviation, both translated by Django's own catalogues).
_DAY_FORMATS = {"pt": "D, j M", "es": "D j M", "fr": "D j M", "de": "D, j. M"}


def format_date(day: date, *, with_year: bool = True) -> str:
    pattern = _DAY_FORMATS.get((translation.get_language() or "en").split("-")[0])
    if pattern is None:
        text = f"{_WEEKDAYS[day.weekday()]} {day.day} {_MONTHS[day.month - 1]}"
    else:
        text = django_date_format(day, pattern)
    return f"{text} {day.year}" if with_year else text


def format_local(instant: datetime, *, with_year: bool = False) -> str:
    """``Tue 10 Sep 15:00`` as the instant's own clock shows it (fixed English names: the
    text must not depend on the process locale)."""
    return f"{format_date(instant.date(), with_year=with_year)} {format_time(instant.time())}"


def zone_abbreviation(instant: datetime) -> str:
    """``PDT``; ``UTC+05:45`` for zones whose abbreviation is only an offset (``+0545``)."""
    name = instant.tzname() or ""
    if name[:1] in "+-":
        offset = instant.utcoffset() or timedelta(0)
        sign = "-" if offset < timedelta(0) else "+"
        minutes = abs(int(offset.total_seconds())) // 60
        return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"
    return name


def describe_window(starts_at: datetime, ends_at: datetime, zone_name: str) -> str:
    """``Tue 10 Sep 15:00 → Sun 15 Sep 11:00 (America/Los_Angeles, PDT)`` in the lock's zone.

    Across a daylight-saving change both abbreviations show (``PDT → PST``): the clocks change
    during the stay. The year shows only when the stay crosses New Year.
    """
    zone = ZoneInfo(zone_name)
    start, end = starts_at.astimezone(zone), ends_at.astimezone(zone)
    start_abbr, end_abbr = zone_abbreviation(start), zone_abbreviation(end)
    abbr = start_abbr if start_abbr == end_abbr else f"{start_abbr} → {end_abbr}"
    with_year = start.year != end.year
    start_text, end_text = format_local(start, with_year=with_year), format_local(end, with_year=with_year)
    return f"{start_text} → {end_text} ({zone_name}, {abbr})"


def format_duration(value: timedelta) -> str:
    minutes = int(value.total_seconds()) // 60
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [(days, "day"), (hours, "hour"), (minutes, "minute")]
    words = [f"{n} {unit}" if n == 1 else f"{n} {unit}s" for n, unit in parts if n]
    return " ".join(words) or "0 minutes"
