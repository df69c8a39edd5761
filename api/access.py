"""Who may call the API, and how often.

A caller is a user, by their token (``Authorization: Token <key>``) or their staff session, and
sees what that user sees in the staff pages: the sites they are staff of (every site for a
superuser). Another site's unit, stay, code or feed answers 404, as in the pages: a 403 would
tell a stranger it exists.
"""

from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth.models import User
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.throttling import UserRateThrottle

from properties.selectors import sites_for_user

if TYPE_CHECKING:
    # Only a type here: DRF imports this module while rest_framework.views is still loading.
    from rest_framework.views import APIView


class StaffOnASite(IsAuthenticated):
    """An active user who is staff of at least one site (or a superuser). Token and session
    authentication refuse inactive users already; a user on no site could see nothing, and
    is told why instead of being handed empty lists."""

    message = "This user is staff of no site: ask an administrator to add them to a site's staff."

    def has_permission(self, request: Request, view: "APIView") -> bool:
        return super().has_permission(request, view) and sites_for_user(user=request.user).exists()


class UserThrottle(UserRateThrottle):
    """``API_THROTTLE_RATE`` calls per user (so per token), counted in Django's cache. Read from
    the settings at each call, not once at import like DRF's own rates, so a deployment (or a
    test) can change it."""

    scope = "api"

    def get_rate(self) -> str:
        return str(settings.API_THROTTLE_RATE)


def api_user(request: Request) -> User:
    """The calling user, for services that record who did what. The permission ran first: it is
    a signed-in account, never AnonymousUser."""
    assert isinstance(request.user, User)
    return request.user
