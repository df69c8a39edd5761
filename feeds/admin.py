from django.contrib import admin, messages
from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.http import HttpRequest

from codes.errors import Refused
from feeds.models import CalendarFeed, FeedStay
from feeds.sync import feed_removals_confirm, feed_sync
from properties.admin import SiteScopedAdmin


@admin.register(CalendarFeed)
class CalendarFeedAdmin(SiteScopedAdmin[CalendarFeed]):
    """Each unit's channel feeds, with where each stands: last good sync, last error, removals
    held for confirmation."""

    site_path = "unit__site"
    list_display = ["unit", "channel", "active", "last_success_at", "last_error_at", "held_count"]
    list_filter = ["unit__site", "channel", "active"]
    list_select_related = ["unit"]
    search_fields = ["unit__name", "url"]
    autocomplete_fields = ["unit"]
    readonly_fields = [
        "last_checked_at",
        "last_success_at",
        "last_error",
        "last_error_at",
        "held_removals",
        "held_at",
        "etag",
        "last_modified",
        "created_at",
    ]
    actions = ["sync_now", "confirm_held"]

    @admin.display(description="removals held")
    def held_count(self, feed: CalendarFeed) -> int:
        return len(feed.held_removals)

    @admin.action(description="Sync now", permissions=["change"])
    def sync_now(self, request: HttpRequest, queryset: QuerySet[CalendarFeed]) -> None:
        for feed in queryset.select_related("unit__site"):
            result = feed_sync(feed=feed)
            level = messages.ERROR if result.error else messages.SUCCESS
            self.message_user(request, f"{feed}: {result}", level)

    @admin.action(description="Confirm the cancellations held for confirmation", permissions=["change"])
    def confirm_held(self, request: HttpRequest, queryset: QuerySet[CalendarFeed]) -> None:
        user = request.user if isinstance(request.user, User) else None
        for feed in queryset:
            try:
                cancelled = feed_removals_confirm(feed=feed, user=user)
            except Refused as refusal:
                self.message_user(request, f"{feed}: {refusal.message}", messages.WARNING)
            else:
                self.message_user(request, f"{feed}: {cancelled} stay(s) cancelled.", messages.SUCCESS)


@admin.register(FeedStay)
class FeedStayAdmin(SiteScopedAdmin[FeedStay]):
    """Which reservation each feed event made (read-only: the sync keeps them)."""

    site_path = "feed__unit__site"
    list_display = ["uid", "feed", "reservation", "removed_at"]
    list_select_related = ["feed__unit", "reservation"]
    search_fields = ["uid"]
    readonly_fields = ["feed", "uid", "reservation", "removed_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
