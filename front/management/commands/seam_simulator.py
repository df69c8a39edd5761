import signal
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from simulator.__main__ import main as simulator_main


class Command(BaseCommand):
    help = "Run the built-in Seam simulator with this app's settings (key, port, webhook secret)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--mode", choices=["quick", "realistic"], default="quick")
        parser.add_argument("--webhook-url", help="where the simulator posts its signed webhooks")
        parser.add_argument(
            "--idle-with-real-seam",
            action="store_true",
            help="when SEAM_API_KEY is set, wait quietly instead of failing (for Procfile.dev)",
        )
        parser.add_argument("--state", default=str(settings.VAR_DIR / "seam-simulator.json"))

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.SEAM_USES_SIMULATOR:
            if not options["idle_with_real_seam"]:
                raise CommandError("SEAM_API_KEY is set: this app talks to the real Seam, not the simulator.")
            # `make run` starts every Procfile.dev process; one that exits would stop them all.
            self.stdout.write("SEAM_API_KEY is set: using the real Seam, the simulator stays off.")
            self.stdout.flush()
            signal.pause()
            return
        argv = [
            "--port",
            str(settings.SEAM_SIMULATOR_PORT),
            "--api-key",
            settings.SEAM_API_KEY,
            "--state",
            options["state"],
            "--mode",
            options["mode"],
        ]
        if options["webhook_url"]:
            argv += ["--webhook-url", options["webhook_url"], "--webhook-secret", settings.SEAM_WEBHOOK_SECRET]
        raise SystemExit(simulator_main(argv))
