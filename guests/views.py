"""The guest page: public, behind the stay's signed link (``codes.guestlinks``), no login."""

from django.http import HttpRequest, HttpResponse, HttpResponseNotFound
from django.shortcuts import render
from django.utils import timezone, translation
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from codes.guestlinks import guest_link_resolve
from guests.pages import guest_page_open


def _private(response: HttpResponse) -> HttpResponse:
    # The URL is the key to the PINs: no Referer carries it to another site, and no search
    # engine lists it (never_cache keeps every cache on the way from storing the page).
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


@never_cache
@require_GET
def stay(request: HttpRequest, token: str) -> HttpResponse:
    """The stay's doors, windows and, in their time, PINs. A tampered, made-up or revoked link
    gets the same plain 404, which tells nothing of why."""
    link = guest_link_resolve(token)
    if link is None:
        return _private(HttpResponseNotFound("Not found.", content_type="text/plain; charset=utf-8"))
    with translation.override(link.reservation.guest_language):
        page = guest_page_open(link=link, now=timezone.now())
        response = render(request, "guests/stay.html", {"page": page})
    response["Content-Language"] = page.language
    return _private(response)
