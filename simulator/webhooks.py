"""Webhook delivery from the simulator, signed the way Seam's provider (Svix) signs them.

The body is the event object; headers ``svix-id`` (the same on every retry of one event),
``svix-timestamp`` and ``svix-signature`` (``v1,<base64 HMAC-SHA256>`` of
``"{id}.{timestamp}.{body}"`` with the secret after ``whsec_``). Failed deliveries are retried
on Svix's schedule; delivered event ids are saved so a restart does not send them again.
"""

import json
import logging
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from standardwebhooks import Webhook

if TYPE_CHECKING:
    from simulator.server import SimulatorServer

logger = logging.getLogger("simulator.webhooks")

# Seconds before each retry: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
RETRY_DELAYS = (5, 300, 1800, 7200, 18000, 36000, 36000)
DELIVERY_TIMEOUT_SECONDS = 10


class WebhookSender:
    def __init__(self, *, url: str, secret: str, simulator: "SimulatorServer", interval: float = 0.5) -> None:
        if urlsplit(url).scheme not in {"http", "https"}:
            raise ValueError("webhook_url must be an http:// or https:// URL")
        if not secret.startswith("whsec_"):
            raise ValueError("webhook_secret must be a Svix secret (whsec_ followed by base64)")
        try:
            self._signer = Webhook(secret)
        except ValueError as exc:
            raise ValueError("webhook_secret is not valid base64 after whsec_") from exc
        self.url = url
        self.simulator = simulator
        self.interval = interval
        self._failures: dict[str, int] = {}
        self._next_try: dict[str, float] = {}
        self._given_up: set[str] = set()

    def run(self) -> None:
        while not self.simulator.stopping.wait(self.interval):
            try:
                self.deliver_due()
            except Exception:
                # One bad round must not end delivery for the life of the process.
                logger.exception("webhook delivery round failed")

    def deliver_due(self) -> int:
        """Send every event that is due and not yet delivered; returns how many were delivered."""
        store = self.simulator.store
        delivered = 0
        for event in self.simulator.api.events(self.simulator.now()):
            event_id = event["event_id"]
            with store.lock:
                if event_id in store.delivered_events:
                    continue
            if event_id in self._given_up or time.monotonic() < self._next_try.get(event_id, 0.0):
                continue
            if self._send(event):
                with store.lock:
                    store.delivered_events.add(event_id)
                    store.save()
                delivered += 1
                continue
            failures = self._failures.get(event_id, 0) + 1
            self._failures[event_id] = failures
            if failures > len(RETRY_DELAYS):
                self._given_up.add(event_id)
                logger.warning("webhook %s %s: giving up after %d attempts", event["event_type"], event_id, failures)
            else:
                self._next_try[event_id] = time.monotonic() + RETRY_DELAYS[failures - 1]
        return delivered

    def _send(self, event: dict[str, Any]) -> bool:
        body = json.dumps(event)
        message_id = f"msg_{event['event_id']}"
        # Signed with the real time, not the simulator's clock: receivers check it against theirs.
        timestamp = datetime.now(UTC)
        request = urllib.request.Request(  # noqa: S310 - the scheme was checked in __init__
            self.url,
            data=body.encode(),
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": "Svix-Webhooks/1.0 (seam-simulator)",
                "svix-id": message_id,
                "svix-timestamp": str(int(timestamp.timestamp())),
                "svix-signature": self._signer.sign(message_id, timestamp, body),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=DELIVERY_TIMEOUT_SECONDS) as response:  # noqa: S310
                status = int(response.status)
        except urllib.error.HTTPError as exc:
            status = int(exc.code)
        except (urllib.error.URLError, OSError) as exc:
            logger.info("webhook %s %s: not delivered (%s)", event["event_type"], event["event_id"], exc)
            return False
        logger.info("webhook %s %s -> %d", event["event_type"], event["event_id"], status)
        return 200 <= status < 300
