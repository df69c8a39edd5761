from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from locks.simulator.__main__ import main as simulator_main


class Command(BaseCommand):
    help = "Run the built-in Seam simulator with this app's settings (key, port, webhook secret)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--mode", choices=["quick", "realistic"], default="quick")
        parser.add_argument("--webhook-url", help="where the simulator posts its signed webhooks")
        parser.add_argument("--state", default=str(settings.VAR_DIR / "seam-simulator.json"))

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.SEAM_USES_SIMULATOR:
            raise CommandError("SEAM_API_KEY is set: this app talks to the real Seam, not the simulator.")
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
