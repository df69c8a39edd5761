"""The simulator's state: the access codes it holds, kept in one process and saved to a JSON file.

Every request thread goes through ``Store.lock``. After each change the whole state is
written to a temporary file that then replaces the old one, so a crash mid-write never
leaves half a file and a restarted simulator (``make run`` again) keeps its codes.
"""

import json
import os
import tempfile
import threading
from collections import deque
from datetime import datetime
from pathlib import Path
from typing import Any

STATE_VERSION = 1


class Store:
    def __init__(self, path: Path | None) -> None:
        self.lock = threading.RLock()
        self.path = path
        # access_code_id -> the stored record (see api.access_code_create for its fields).
        self.codes: dict[str, dict[str, Any]] = {}
        # device_id -> how many create requests named it, whatever their outcome.
        self.create_calls: dict[str, int] = {}
        # Webhook events already delivered, so a restart does not send them again.
        self.delivered_events: set[str] = set()
        # Events made to happen through the controls (a door disconnected...). Not saved.
        self.emitted_events: list[dict[str, Any]] = []
        # device_id -> when recent creates happened, for the per-device rate limit. Not saved.
        self.recent_creates: dict[str, deque[datetime]] = {}
        # API path -> requests received, and device_id -> creates refused by the rate limit
        # (not injected 429s): what benchmarks read to count calls per code. Not saved.
        self.requests: dict[str, int] = {}
        self.rate_limited: dict[str, int] = {}
        if path is not None and path.exists():
            self._load(path)

    def save(self) -> None:
        """Write the state to ``path`` atomically (no-op for an in-memory store)."""
        if self.path is None:
            return
        with self.lock:
            data = {
                "version": STATE_VERSION,
                "access_codes": list(self.codes.values()),
                "create_calls": self.create_calls,
                "delivered_events": sorted(self.delivered_events),
            }
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as tmp:
                    json.dump(data, tmp, indent=1)
                    tmp.flush()
                    os.fsync(tmp.fileno())
                os.replace(tmp_name, self.path)
            except BaseException:
                Path(tmp_name).unlink(missing_ok=True)
                raise

    def reset(self) -> None:
        with self.lock:
            self.codes.clear()
            self.create_calls.clear()
            self.delivered_events.clear()
            self.emitted_events.clear()
            self.recent_creates.clear()
            self.requests.clear()
            self.rate_limited.clear()
            self.save()

    def _load(self, path: Path) -> None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
                raise ValueError(f"expected a version {STATE_VERSION} state object")
            codes = data.get("access_codes", [])
            calls = data.get("create_calls", {})
            delivered = data.get("delivered_events", [])
            if not isinstance(codes, list) or not isinstance(calls, dict) or not isinstance(delivered, list):
                raise ValueError("access_codes, create_calls or delivered_events has the wrong shape")
            self.codes = {str(code["access_code_id"]): code for code in codes}
            self.create_calls = {str(device_id): int(count) for device_id, count in calls.items()}
            self.delivered_events = {str(event_id) for event_id in delivered}
        except (ValueError, KeyError, TypeError) as exc:
            # Refuse rather than start empty: silently dropping codes would hide real data loss.
            raise ValueError(f"{path} is not a usable simulator state ({exc}); move it away to start afresh") from exc
