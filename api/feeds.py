"""Calendar feeds through the API: list the caller's units' feeds with where each stands, add
one to a unit, and sync one now (:mod:`feeds.sync`, as the admin's "Sync now" does).

A sync runs in the request, within the fetch's timeouts, and answers with what it did. The
channel failing is not the call failing: its error is kept on the feed and shown in the answer.
"""

from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.errors import Conflict
from api.inputs import CallersUnits
from api.serializers import UnitBriefSerializer
from feeds.models import CalendarFeed
from feeds.sync import SyncResult, feed_create, feed_sync, last_checked
from properties.models import Unit
from properties.selectors import sites_for_user


class FeedSerializer(serializers.ModelSerializer[CalendarFeed]):
    """A feed and where it stands: when it was last fetched, last synced without error, its last
    error (``failing`` while no sync has succeeded since), and stays it stopped listing that
    wait for staff to confirm their cancellation."""

    unit = UnitBriefSerializer(read_only=True)
    site = serializers.IntegerField(source="unit.site_id", read_only=True)
    last_checked_at = serializers.SerializerMethodField()
    failing = serializers.BooleanField(source="is_failing", read_only=True)
    held_removals = serializers.SerializerMethodField(
        help_text="How many stays the feed stopped listing wait for staff to confirm their cancellation."
    )

    class Meta:
        model = CalendarFeed
        fields = [
            "id",
            "unit",
            "site",
            "channel",
            "url",
            "active",
            "last_checked_at",
            "last_success_at",
            "last_error",
            "last_error_at",
            "failing",
            "held_removals",
            "held_at",
            "created_at",
        ]
        read_only_fields = fields

    def get_last_checked_at(self, feed: CalendarFeed) -> datetime | None:
        return last_checked(feed)

    def get_held_removals(self, feed: CalendarFeed) -> int:
        return len(feed.held_removals)


class FeedCreateSerializer(CallersUnits, serializers.Serializer[Any]):
    unit = serializers.PrimaryKeyRelatedField(queryset=Unit.objects.none(), pk_field=serializers.IntegerField())
    url = serializers.CharField(max_length=2000, help_text="The channel's iCal export link (https://…).")
    channel = serializers.ChoiceField(
        choices=CalendarFeed.Channel.choices,
        required=False,
        allow_blank=True,
        default="",
        help_text="Guessed from the link's host when not given.",
    )


class SyncResultSerializer(serializers.Serializer[SyncResult]):
    summary = serializers.CharField(source="__str__", read_only=True)
    unchanged = serializers.BooleanField(read_only=True, help_text="The channel's calendar had not changed.")
    error = serializers.CharField(read_only=True, help_text="Why the sync failed (nothing changed then).")
    booked = serializers.IntegerField(read_only=True)
    needs_attention = serializers.IntegerField(read_only=True)
    moved = serializers.IntegerField(read_only=True)
    cancelled = serializers.IntegerField(read_only=True)
    held = serializers.IntegerField(read_only=True, help_text="Cancellations held for staff to confirm.")
    blocked = serializers.IntegerField(read_only=True, help_text="Blocked periods, which are not stays.")
    skipped = serializers.ListField(child=serializers.CharField(), read_only=True)


class FeedSyncSerializer(serializers.Serializer[Any]):
    feed = FeedSerializer(read_only=True)
    result = SyncResultSerializer(read_only=True)


def feeds_for_user(request: Request) -> QuerySet[CalendarFeed]:
    return (
        CalendarFeed.objects.filter(unit__site__in=sites_for_user(user=request.user))
        .select_related("unit")
        .order_by("unit__name", "pk")
    )


@extend_schema_view(get=extend_schema(operation_id="feeds_list"))
class FeedList(generics.ListAPIView[CalendarFeed]):
    """The calendar feeds of the caller's units."""

    serializer_class = FeedSerializer

    def get_queryset(self) -> QuerySet[CalendarFeed]:
        return feeds_for_user(self.request)

    @extend_schema(
        operation_id="feed_create",
        request=FeedCreateSerializer,
        responses={201: FeedSerializer, 400: OpenApiResponse(description='Bad input: `{"<field>": ["…"]}`.')},
    )
    def post(self, request: Request) -> Response:
        """Add a channel's calendar feed to a unit. It is synced on the schedule; sync it now with
        ``POST /api/v1/feeds/{id}/sync/``."""
        data = FeedCreateSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        given = data.validated_data
        feed = feed_create(unit=given["unit"], url=given["url"], channel=given["channel"])
        feed = feeds_for_user(request).get(pk=feed.pk)
        return Response(FeedSerializer(feed).data, status=status.HTTP_201_CREATED)


class FeedSync(APIView):
    @extend_schema(
        operation_id="feed_sync",
        request=None,
        responses={200: FeedSyncSerializer, 404: OpenApiResponse(description="Not a feed of the caller's units.")},
    )
    def post(self, request: Request, pk: int) -> Response:
        """Fetch the feed now and bring its unit's stays in line with it; answers with what was
        done. A channel that fails (unreachable, not a calendar) changes nothing: the answer and
        the feed say why. A feed switched off (``active`` false) is not synced: 409."""
        feed = generics.get_object_or_404(feeds_for_user(request).select_related("unit__site"), pk=pk)
        if not feed.active:
            raise Conflict("This feed is switched off (active is false): switch it on in the admin to sync it.")
        result = feed_sync(feed=feed)
        return Response(FeedSyncSerializer({"feed": result.feed, "result": result}).data)
