"""What staff wrote for a site's guests (``SiteMessage``), in the guest's language."""

from django.utils.html import escape, linebreaks
from django.utils.safestring import SafeString, mark_safe

from properties.models import Reservation, SiteMessage


def site_message(reservation: Reservation) -> SiteMessage | None:
    """The site's message in the guest's language, if staff wrote one."""
    return SiteMessage.objects.filter(site_id=reservation.site_id, language=reservation.guest_language).first()


def guest_directions_html(reservation: Reservation) -> SafeString:
    """The site's directions for the guest page as HTML paragraphs; "" when there are none."""
    message = site_message(reservation)
    if message is None or not message.directions.strip():
        return mark_safe("")
    return mark_safe(linebreaks(escape(message.directions)))  # noqa: S308 - escaped above
