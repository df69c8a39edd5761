from django.contrib import admin
from rest_framework.authtoken.admin import TokenAdmin
from rest_framework.authtoken.models import TokenProxy

from properties.admin import SiteScopedAdmin

# DRF's own token admin lists every key to anyone given view permission on tokens. A key opens
# its user's sites through the API (PINs included), so here tokens are for superusers only, like
# the other rows that belong to no one site.
admin.site.unregister(TokenProxy)


@admin.register(TokenProxy)
class SuperuserTokenAdmin(SiteScopedAdmin[TokenProxy], TokenAdmin):
    """API tokens (``manage.py drf_create_token <username>`` makes one): superusers only."""

    site_path = None
