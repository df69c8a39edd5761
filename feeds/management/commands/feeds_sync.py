from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from feeds.models import CalendarFeed
from feeds.sync import feed_sync


class Command(BaseCommand):
    help = "Sync calendar feeds now (every active one, or those named), printing what each did."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--feed", type=int, action="append", default=[], help="A feed's id (repeatable).")
        parser.add_argument("--unit", type=int, action="append", default=[], help="A unit's id (repeatable).")

    def handle(self, *args: Any, **options: Any) -> None:
        feeds = CalendarFeed.objects.filter(active=True).select_related("unit__site").order_by("pk")
        if options["feed"]:
            feeds = feeds.filter(pk__in=options["feed"])
        if options["unit"]:
            feeds = feeds.filter(unit__in=options["unit"])
        failed = 0
        for feed in feeds:
            result = feed_sync(feed=feed)
            failed += bool(result.error)
            line = f"{feed.pk} {feed.unit.site.name} · {feed.unit.name} · {feed.get_channel_display()}: {result}"
            self.stdout.write(self.style.ERROR(line) if result.error else line)
        if not feeds:
            self.stdout.write("No active feeds.")
        elif failed:
            self.stdout.write(self.style.WARNING(f"{failed} feed(s) failed: each keeps its last good state."))
