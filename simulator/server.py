"""The simulator as an HTTP server on loopback, with controls for tests.

Longer than 400 lines on purpose: the server, its test controls (faults, clock, doors, events)
and their HTTP twins under ``/_simulator/`` belong together, each control next to its route.

``SimulatorServer`` serves Seam's wire format (see ``api``) from a daemon thread, so tests can
run it in-process; ``python -m simulator`` runs the same thing as its own process.
Tests steer it with Python methods (``inject_fault``, ``reset``, ``advance_clock``...) or, from
another process, with the same controls over HTTP under ``/_simulator/``:

- ``POST /_simulator/faults`` ``{"endpoint", "kind", "count"?, "hold_seconds"?}``; ``GET`` lists them
- ``POST /_simulator/reset``
- ``GET /_simulator/state``: the codes, create calls per device, requests per API path, creates
  refused by the rate limit per device, pending faults, the time
- ``POST /_simulator/clock`` ``{"advance_seconds": N}``; ``GET`` tells the simulator's time
- ``POST /_simulator/latency`` ``{"ms", "jitter_ms"?}``: the delay every later API call waits
  (see ``set_latency``); ``GET`` tells it
- ``POST /_simulator/doors`` ``{"device_id", "refusals"?, "round_to_level"?, "max_active_codes_supported"?}``:
  how one door refuses a code (``http_400`` or ``on_code``), the user level it rounds every
  code to, and how many live codes it holds (see ``doors``); ``reset`` puts every door back
- ``POST /_simulator/events`` ``{"event_type", "device_id"? | "access_code_id"?, ...}``: make
  one of Seam's events happen now (``device.disconnected``, ``access_code.removed_from_device``,
  ... see ``api.EMITTABLE_EVENTS``); it is listed and sent as a signed webhook like any other

Controls need the same API key as the API. Neither the key nor any PIN is ever logged.
"""

import contextlib
import hmac
import ipaddress
import json
import logging
import os
import random
import select
import socket
import socketserver
import struct
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeGuard
from urllib.parse import parse_qs, urlsplit

from simulator import demo
from simulator.api import ApiError, SeamApi, access_code_json, format_instant, invalid_input
from simulator.oracode import Schedule
from simulator.store import Store
from simulator.webhooks import WebhookSender

logger = logging.getLogger("simulator")

DEFAULT_API_KEY = "seam_simulator_demo_key"
FAULT_KINDS = ("timeout_after_store", "error_500", "rate_limit_429", "connection_reset")
MAX_BODY_BYTES = 1_000_000
CONTROL_PREFIX = "/_simulator/"

Clock = Callable[[], datetime]


def real_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class Fault:
    endpoint: str
    kind: str
    remaining: int
    hold_seconds: float


class SimulatorServer:
    """A Seam simulator for dormakaba Oracode doors, served over HTTP on a loopback address.

    ``clock`` returns the aware UTC time (real time by default); ``advance_clock`` shifts it.
    ``mode`` "quick" sets codes ``set_after`` creation; "realistic" programs them
    ``program_lead`` before they start, taking ``setting_duration``. Seam's per-door limit of
    ``rate_limit`` creates per ``rate_limit_window`` (a minute) can be scaled down in time for
    benchmarks; ``bench_doors`` adds that many doors (``demo.bench_devices``). ``refusals`` is
    how every door refuses a code until ``configure_door`` says otherwise (see ``doors``).
    ``latency`` ± ``latency_jitter`` is how long every API call waits before it is applied, as
    real Seam is slow (see ``set_latency``); ``seed`` makes the jitter repeatable.
    Raises ``ValueError`` for a non-loopback host, an unknown mode or refusal mode, a negative
    latency, or an unusable state file.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        mode: str = "quick",
        api_key: str = DEFAULT_API_KEY,
        state_path: str | os.PathLike[str] | None = None,
        clock: Clock | None = None,
        *,
        setting_after: timedelta = timedelta(seconds=2),
        set_after: timedelta = timedelta(seconds=5),
        program_lead: timedelta = timedelta(minutes=60),
        setting_duration: timedelta = timedelta(seconds=90),
        fault_hold: timedelta = timedelta(seconds=30),
        rate_limit: int = 10,
        rate_limit_window: timedelta = timedelta(seconds=60),
        bench_doors: int = 0,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        refusals: str = "http_400",
        latency: timedelta = timedelta(0),
        latency_jitter: timedelta = timedelta(0),
        seed: int | None = None,
    ) -> None:
        require_loopback(host)
        if not api_key:
            raise ValueError("api_key must not be empty")
        self.host = host
        self.port = port
        self.mode = mode
        self.api_key = api_key
        self.fault_hold = fault_hold
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.schedule = Schedule(
            mode=mode,
            setting_after=setting_after,
            set_after=set_after,
            program_lead=program_lead,
            setting_duration=setting_duration,
        )
        self.store = Store(Path(state_path) if state_path is not None else None)
        if rate_limit_window <= timedelta(0):
            raise ValueError("rate_limit_window must be positive")
        if bench_doors < 0:
            raise ValueError("bench_doors must not be negative")
        self.api = SeamApi(
            store=self.store,
            schedule=self.schedule,
            devices=[*demo.demo_devices(), *demo.bench_devices(bench_doors)],
            rate_limit=rate_limit,
            rate_limit_window=rate_limit_window,
            refusals=refusals,
        )
        self._clock = clock or real_clock
        self._clock_offset = timedelta(0)
        self._faults: list[Fault] = []
        self._faults_lock = threading.Lock()
        self._latency_lock = threading.Lock()
        self._random = random.Random(seed)  # noqa: S311 - jitter, not secrets
        self._initial_latency = (latency, latency_jitter)
        self.latency = timedelta(0)
        self.latency_jitter = timedelta(0)
        self.set_latency(latency, latency_jitter)
        self.stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._webhooks: threading.Thread | None = None
        self._webhook_sender: WebhookSender | None = None
        if webhook_url:
            self._webhook_sender = WebhookSender(url=webhook_url, secret=webhook_secret or "", simulator=self)

    # Lifecycle

    def start(self) -> "SimulatorServer":
        """Bind and serve from a daemon thread; raises ``OSError`` when the port is taken."""
        server_class = _IPv6HTTPServer if ":" in self.host else _HTTPServer
        self._httpd = server_class((self.host, self.port), _Handler)
        self._httpd.simulator = self
        self.port = self._httpd.server_address[1]
        self.stopping.clear()
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1}, name="seam-simulator", daemon=True
        )
        self._thread.start()
        if self._webhook_sender is not None:
            self._webhooks = threading.Thread(
                target=self._webhook_sender.run, name="seam-simulator-webhooks", daemon=True
            )
            self._webhooks.start()
        logger.info("Seam simulator (%s mode) serving on %s", self.mode, self.url)
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._webhooks is not None:
            self._webhooks.join(timeout=5)
            self._webhooks = None

    def __enter__(self) -> "SimulatorServer":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    # Controls

    def now(self) -> datetime:
        now = self._clock()
        if now.utcoffset() is None:
            raise ValueError("the simulator's clock must return an aware datetime")
        return now.astimezone(UTC) + self._clock_offset

    def advance_clock(self, delta: timedelta) -> datetime:
        """Move the simulator's time forward (or back) by ``delta``; returns the new time."""
        self._clock_offset += delta
        return self.now()

    def inject_fault(self, endpoint: str, kind: str, count: int = 1, hold_seconds: float | None = None) -> None:
        """Make the next ``count`` requests to ``endpoint`` ("*" for any) fail as ``kind``.

        ``timeout_after_store`` does the work (stores the code) and then never answers: it holds
        the response until the client hangs up or ``hold_seconds`` pass, then drops the
        connection. ``error_500`` and ``rate_limit_429`` answer without doing the work;
        ``connection_reset`` resets the connection before doing it.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"kind must be one of {', '.join(FAULT_KINDS)}")
        if count < 1:
            raise ValueError("count must be at least 1")
        if endpoint != "*" and not endpoint.startswith("/"):
            endpoint = f"/{endpoint}"
        hold = self.fault_hold.total_seconds() if hold_seconds is None else hold_seconds
        fault = Fault(endpoint=endpoint.rstrip("/") or "*", kind=kind, remaining=count, hold_seconds=hold)
        with self._faults_lock:
            self._faults.append(fault)

    def faults(self) -> list[dict[str, Any]]:
        with self._faults_lock:
            return [asdict(fault) for fault in self._faults]

    def take_fault(self, path: str) -> Fault | None:
        path = path.rstrip("/")
        with self._faults_lock:
            for fault in self._faults:
                if fault.endpoint in {"*", path}:
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def set_latency(self, latency: timedelta, jitter: timedelta = timedelta(0)) -> None:
        """Make every later API call wait ``latency`` plus a uniform draw in ±``jitter`` (never
        below zero) before it is applied, so a create is stored, and counted by the rate limit,
        at the simulator's time after the wait: the network is slow on the way in. Each request
        waits in its own thread, so concurrent calls overlap. Controls under /_simulator/ never wait.

        Raises ``ValueError`` for a negative latency or jitter.
        """
        if latency < timedelta(0) or jitter < timedelta(0):
            raise ValueError("latency and its jitter must not be negative")
        with self._latency_lock:
            self.latency = latency
            self.latency_jitter = jitter

    def latency_delay(self) -> float:
        """Seconds the next API call waits: one draw of the latency and its jitter."""
        with self._latency_lock:
            jitter = self.latency_jitter.total_seconds()
            offset = self._random.uniform(-jitter, jitter) if jitter else 0.0
            return max(0.0, self.latency.total_seconds() + offset)

    def latency_json(self) -> dict[str, float]:
        with self._latency_lock:
            return {
                "ms": self.latency / timedelta(milliseconds=1),
                "jitter_ms": self.latency_jitter / timedelta(milliseconds=1),
            }

    def reset(self) -> None:
        """Forget every code, count, fault, emitted event and clock shift; doors and latency as
        they started."""
        with self._faults_lock:
            self._faults.clear()
        self._clock_offset = timedelta(0)
        self.set_latency(*self._initial_latency)
        self.store.reset()
        self.api.reset_doors()

    def configure_door(self, device_id: str, **changes: Any) -> dict[str, Any]:
        """Set how one door refuses codes (``refusals="on_code"``), the level it rounds every code
        to (``round_to_level="Guest 16:00-10:00"``, None to stop) and its cap
        (``max_active_codes_supported=N``, None for none); returns the door's settings.

        Raises ``ValueError`` for an unknown device or setting.
        """
        try:
            return self.api.configure_door(device_id, changes)
        except KeyError:
            raise ValueError(f"no device {device_id!r}") from None

    def emit_event(self, event_type: str, **fields: Any) -> dict[str, Any]:
        """Make Seam's ``event_type`` happen now (sent as a webhook too); returns the event.

        Raises ``ValueError`` (see ``SeamApi.emit_event``).
        """
        return self.api.emit_event(event_type, fields, self.now())

    def access_codes(self, device_id: str | None = None) -> list[dict[str, Any]]:
        """Stored codes as Seam shows them now, oldest first, with the simulator's schedule."""
        now = self.now()
        with self.store.lock:
            records = [r for r in self.store.codes.values() if device_id is None or r["device_id"] == device_id]
        records.sort(key=lambda r: (r["created_at"], r["access_code_id"]))
        return [
            {
                **access_code_json(record, now),
                "_simulator": {"setting_at": record["setting_at"], "set_at": record["set_at"]},
            }
            for record in records
        ]

    @property
    def requests(self) -> dict[str, int]:
        """API path -> requests received (controls under /_simulator/ are not counted)."""
        with self.store.lock:
            return dict(self.store.requests)

    @property
    def rate_limited(self) -> dict[str, int]:
        """device_id -> creates the per-door rate limit refused with a 429 (injected ones aside)."""
        with self.store.lock:
            return dict(self.store.rate_limited)

    @property
    def create_calls(self) -> dict[str, int]:
        """device_id -> create requests that named it, faulted and refused ones included."""
        with self.store.lock:
            return dict(self.store.create_calls)

    def state(self) -> dict[str, Any]:
        return {
            "now": format_instant(self.now()),
            "mode": self.mode,
            "access_codes": self.access_codes(),
            "create_calls": self.create_calls,
            "requests": self.requests,
            "rate_limited": self.rate_limited,
            "faults": self.faults(),
            "latency": self.latency_json(),
        }

    def authorized(self, header: str | None) -> bool:
        expected = f"Bearer {self.api_key}".encode()
        return header is not None and hmac.compare_digest(header.strip().encode(), expected)

    def control(self, method: str, path: str, params: dict[str, Any]) -> dict[str, Any]:
        """The HTTP face of the controls above; raises ``ApiError``."""
        action = path[len(CONTROL_PREFIX) :].strip("/")
        if action == "state":
            return {"state": self.state(), "ok": True}
        if action == "reset" and method == "POST":
            self.reset()
            return {"ok": True}
        if action == "faults" and method == "GET":
            return {"faults": self.faults(), "ok": True}
        if action == "faults" and method == "POST":
            endpoint, kind, count, hold = (params.get(k) for k in ("endpoint", "kind", "count", "hold_seconds"))
            if not isinstance(endpoint, str) or not isinstance(kind, str):
                raise invalid_input("endpoint and kind are required strings")
            if count is None:
                count = 1
            if not isinstance(count, int) or (hold is not None and not isinstance(hold, int | float)):
                raise invalid_input("count must be an integer and hold_seconds a number")
            try:
                self.inject_fault(endpoint, kind, count, None if hold is None else float(hold))
            except ValueError as exc:
                raise invalid_input(str(exc)) from None
            return {"faults": self.faults(), "ok": True}
        if action == "doors" and method == "POST":
            device_id = params.pop("device_id", None)
            if not isinstance(device_id, str):
                raise invalid_input("device_id is a required string", "device_id")
            try:
                return {"door": self.configure_door(device_id, **params), "ok": True}
            except ValueError as exc:
                raise invalid_input(str(exc)) from None
        if action == "events" and method == "POST":
            event_type = params.pop("event_type", None)
            if not isinstance(event_type, str):
                raise invalid_input("event_type is a required string", "event_type")
            try:
                return {"event": self.emit_event(event_type, **params), "ok": True}
            except ValueError as exc:
                raise invalid_input(str(exc)) from None
        if action == "latency" and method == "POST":
            ms, jitter_ms = params.get("ms"), params.get("jitter_ms", 0)
            if not _is_number(ms) or not _is_number(jitter_ms):
                raise invalid_input("ms and jitter_ms must be numbers", "ms")
            try:
                self.set_latency(timedelta(milliseconds=ms), timedelta(milliseconds=jitter_ms))
            except (ValueError, OverflowError) as exc:
                raise invalid_input(str(exc)) from None
            return {"latency": self.latency_json(), "ok": True}
        if action == "latency":
            return {"latency": self.latency_json(), "ok": True}
        if action == "clock" and method == "POST":
            seconds = params.get("advance_seconds")
            if not isinstance(seconds, int | float) or isinstance(seconds, bool):
                raise invalid_input("advance_seconds must be a number", "advance_seconds")
            return {"now": format_instant(self.advance_clock(timedelta(seconds=seconds))), "ok": True}
        if action == "clock":
            return {"now": format_instant(self.now()), "ok": True}
        raise ApiError(404, "not_found", f"no simulator control at {path} for {method}")


def require_loopback(host: str) -> None:
    """Refuse any address but loopback: the simulator is for this machine only."""
    if host == "localhost":
        return
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"refusing to bind {host!r}: give a loopback address such as 127.0.0.1") from None
    if not address.is_loopback:
        raise ValueError(f"refusing to bind {host!r}: the simulator only listens on loopback addresses")


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # Connections waiting for the accept loop. socketserver's 5 overflows when dozens of worker
    # threads connect at once on a busy machine: the kernel drops their SYNs (a connect late by
    # a second or more) or resets them (a create that fails with connection_error), which no real
    # Seam would do. The kernel caps it at net.core.somaxconn.
    request_queue_size = 1024
    simulator: SimulatorServer

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the host name up (getfqdn), which can stall offline.
        socketserver.TCPServer.server_bind(self)
        self.server_name = str(self.server_address[0])
        self.server_port = int(self.server_address[1])


class _IPv6HTTPServer(_HTTPServer):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    protocol_version = "HTTP/1.1"
    server_version = "SeamSimulator/1"

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        simulator = self.server.simulator
        request_id = str(uuid.uuid4())
        started = time.monotonic()
        url = urlsplit(self.path)
        path = url.path
        outcome = self._respond(simulator, method, path, url.query, request_id)
        # The path only: no query string, headers or bodies, so no key and no PIN reach the log.
        elapsed_ms = (time.monotonic() - started) * 1000
        logger.info("%s %s -> %s in %.0f ms [%s]", method, path, outcome, elapsed_ms, request_id)

    def _respond(self, simulator: SimulatorServer, method: str, path: str, query: str, request_id: str) -> str:
        """Answer the request; returns what happened, for the log."""
        try:
            raw = self._read_body()
        except ApiError as exc:
            self.close_connection = True
            return self._send(exc.status, exc.body(request_id), request_id, exc.headers)
        if not path.startswith(CONTROL_PREFIX):
            # Seam's latency, waited before anything is applied or counted. This thread is the
            # request's own (ThreadingHTTPServer), so concurrent calls wait side by side.
            delay = simulator.latency_delay()
            if delay:
                simulator.stopping.wait(delay)
        if not simulator.authorized(self.headers.get("Authorization")):
            error = ApiError(401, "unauthorized", "Unauthorized: send Authorization: Bearer <API key>")
            return self._send(401, error.body(request_id), request_id)
        try:
            params = _params(query, raw)
            if path.startswith(CONTROL_PREFIX):
                return self._send(200, simulator.control(method, path, params), request_id)
        except ApiError as exc:
            return self._send(exc.status, exc.body(request_id), request_id, exc.headers)

        simulator.api.note_request(path)
        if method == "POST" and path.rstrip("/") == "/access_codes/create":
            simulator.api.note_create_call(params)
        fault = simulator.take_fault(path)
        if fault is not None and fault.kind == "connection_reset":
            self._drop_connection()
            return "connection reset (injected fault)"
        if fault is not None and fault.kind == "error_500":
            error = ApiError(500, "internal_server_error", "Internal server error (injected fault)")
            return self._send(500, error.body(request_id), request_id)
        if fault is not None and fault.kind == "rate_limit_429":
            error = ApiError(429, "rate_limited", "Too many requests (injected fault)")
            return self._send(429, error.body(request_id), request_id, {"Retry-After": "1"})

        status, headers = 200, {}
        try:
            body = simulator.api.call(method, path, params, simulator.now())
        except ApiError as exc:
            status, body, headers = exc.status, exc.body(request_id), exc.headers
        if fault is not None and fault.kind == "timeout_after_store":
            self._hold_then_drop(simulator, fault.hold_seconds)
            return f"{status} held and dropped (injected fault)"
        return self._send(status, body, request_id, headers)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            raise ApiError(411, "invalid_input", "send a Content-Length; chunked bodies are not supported")
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise invalid_input("Content-Length is not a number") from None
        if length < 0 or length > MAX_BODY_BYTES:
            raise ApiError(413, "invalid_input", "request body too large")
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: dict[str, Any], request_id: str, headers: dict[str, str] | None = None) -> str:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("seam-request-id", request_id)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        return str(status)

    def _hold_then_drop(self, simulator: SimulatorServer, hold_seconds: float) -> None:
        """Keep the client waiting until it gives up (or the hold ends), then hang up unanswered."""
        deadline = time.monotonic() + hold_seconds
        while time.monotonic() < deadline and not simulator.stopping.is_set():
            readable, _, _ = select.select([self.connection], [], [], 0.05)
            if readable:
                # End of file: the client timed out and closed its side.
                break
        self._drop_connection()

    def _drop_connection(self) -> None:
        # A zero linger turns the close into a TCP reset, as when a proxy or server dies mid-request.
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()

    def log_message(self, format: str, *args: Any) -> None:
        # http.server's own lines (request lines, parse errors) stay at debug level.
        logger.debug("%s " + format, self.address_string(), *args)


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _params(query: str, raw: bytes) -> dict[str, Any]:
    """Query parameters overlaid with the JSON body; reads accept either, like Seam."""
    params: dict[str, Any] = {}
    for key, values in parse_qs(query, keep_blank_values=True).items():
        params[key] = values[0] if len(values) == 1 else values
    if raw.strip():
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise invalid_input("the request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise invalid_input("the request body must be a JSON object")
        params.update(body)
    return params
