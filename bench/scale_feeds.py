"""Feeds at scale (issue 16): syncing 1,000 unit feeds where nothing changed costs a conditional
GET each and no writes.

1,000 units, each with its own door (the simulator's benchmark doors after the ones the other
scenarios use) and one iCal feed listing one or two future stays, served by a real HTTP server
in a thread of this process (ETag, Last-Modified, 304 to a matching If-None-Match or
If-Modified-Since; it counts what it is asked). A real Celery worker syncs them all twice, each
time from one ``feeds_sync_task`` (the beat's fan-out, sent from here):

1. the first sync books every stay, whose codes are created at the simulator (webhooks to
   gunicorn set them), as a channel's calendars arrive on the first day;
2. the second, with nothing changed, is measured: requests the server saw (all conditional, all
   304, one per feed) and rows the database wrote meanwhile.

Writes are PostgreSQL's own counters, ``n_tup_ins + n_tup_upd + n_tup_del`` summed over
``pg_stat_user_tables`` (every table of the benchmark's database), read before the fan-out and
after the worker that ran it has exited: a backend flushes its counts when it goes idle and when
it exits, so once the worker's connections are gone from ``pg_stat_activity`` (and the sum has
stopped moving) everything the sync wrote is in it, whoever wrote it. This process makes no query
in between; beat is stopped, so no sweep runs in the window either.
"""

import hashlib
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import redis
from django.db import connection, transaction

from bench import procs, scenarios
from codes.models import AccessCode, WebhookDelivery
from config.queueing import redis_queue_lists
from feeds.models import CalendarFeed
from feeds.sync import last_checked
from feeds.tasks import feeds_sync_task
from locks.models import Lock
from locks.seam import SeamClient
from locks.services import locks_sync
from properties.models import Reservation, Unit, UnitDoor
from simulator import demo

FEEDS = 1000
# The simulator's benchmark doors 1..SIM_DOORS are the other scenarios' (Context.doors): these
# come after them, in a simulator of this scenario's own.
FIRST_DOOR = scenarios.SIM_DOORS + 1


@dataclass
class FeedServer:
    """The channel: one calendar per path, answered with ETag and Last-Modified, 304 when the
    client already has it; counts every request."""

    bodies: dict[str, bytes]
    last_modified: str = field(default_factory=lambda: formatdate(time.time() - 3600, usegmt=True))
    counts: Counter[str] = field(default_factory=Counter)
    per_path: Counter[str] = field(default_factory=Counter)
    answered: list[float] = field(default_factory=list)  # monotonic time of each answer
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @staticmethod
    def etag(body: bytes) -> str:
        return f'"{hashlib.sha256(body).hexdigest()[:20]}"'

    def start(self) -> str:
        self.server = ThreadingHTTPServer(("127.0.0.1", procs.free_port()), _handler(self))
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def reset(self) -> None:
        with self.lock:
            self.counts.clear()
            self.per_path.clear()
            self.answered.clear()

    def not_modified(self, body: bytes, if_none_match: str | None, if_modified_since: str | None) -> bool:
        """RFC 9110: If-None-Match decides when sent; else If-Modified-Since at or after ours."""
        if if_none_match is not None:
            return self.etag(body) in {tag.strip() for tag in if_none_match.split(",")} or if_none_match == "*"
        if if_modified_since is not None:
            try:
                return parsedate_to_datetime(if_modified_since) >= parsedate_to_datetime(self.last_modified)
            except (TypeError, ValueError):
                return False
        return False

    def note(self, path: str, *kinds: str) -> None:
        with self.lock:
            self.counts["requests"] += 1
            self.counts.update(kinds)
            self.per_path[path] += 1
            self.answered.append(time.monotonic())


def _handler(state: FeedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            body = state.bodies.get(path)
            if_none_match = self.headers.get("If-None-Match")
            if_modified_since = self.headers.get("If-Modified-Since")
            conditional = ("conditional",) if if_none_match is not None or if_modified_since is not None else ()
            if body is None:
                self.send_error(404)
                state.note(path, "not_found", *conditional)
                return
            if state.not_modified(body, if_none_match, if_modified_since):
                self.send_response(304)
                self.send_header("ETag", state.etag(body))
                self.send_header("Last-Modified", state.last_modified)
                self.end_headers()
                state.note(path, "not_modified", *conditional)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/calendar; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", state.etag(body))
            self.send_header("Last-Modified", state.last_modified)
            self.end_headers()
            self.wfile.write(body)
            state.note(path, "full_body", *conditional)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


def feed_body(number: int, today: date, *, stamp: str = "") -> bytes:
    """A channel's calendar of one unit: a stay 20 to 49 days ahead, and a second one 10 days
    after it for every other unit (Vrbo's shape: "Reserved - <guest>", all-day dates)."""
    first = today + timedelta(days=20 + number % 30)
    stays = [(first, first + timedelta(days=3))]
    if number % 2 == 0:
        stays.append((first + timedelta(days=10), first + timedelta(days=14)))
    stamp = stamp or datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Oracode bench//Feeds at scale//EN"]
    for k, (arrival, departure) in enumerate(stays):
        lines += [
            "BEGIN:VEVENT",
            f"UID:bench-{number}-{k}@feeds.bench.invalid",
            f"DTSTAMP:{stamp}",
            f"DTSTART;VALUE=DATE:{arrival:%Y%m%d}",
            f"DTEND;VALUE=DATE:{departure:%Y%m%d}",
            f"SUMMARY:Reserved - Feed Guest {number}-{k}",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return ("\r\n".join(lines) + "\r\n").encode()


def _make_feeds(base_url: str, count: int) -> list[CalendarFeed]:
    """A unit per door (doors FIRST_DOOR onwards), each with its feed."""
    ids = [demo.bench_device_id(FIRST_DOOR + n) for n in range(count)]
    by_id = {lock.seam_device_id: lock for lock in Lock.objects.filter(seam_device_id__in=ids)}
    locks = [by_id[device_id] for device_id in ids]
    units = Unit.objects.bulk_create(Unit(site=lock.site, name=f"Feed {lock.name}") for lock in locks)
    UnitDoor.objects.bulk_create(UnitDoor(unit=unit, lock=lock) for unit, lock in zip(units, locks, strict=True))
    return CalendarFeed.objects.bulk_create(
        CalendarFeed(unit=unit, url=f"{base_url}/feeds/{n}.ics", channel=CalendarFeed.Channel.OTHER)
        for n, unit in enumerate(units)
    )


def _writes() -> dict[str, int]:
    """Rows inserted, updated and deleted so far, per table of this database (PostgreSQL's
    statistics, as flushed by the backends so far)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT relname, n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_user_tables")
        return {str(name): int(count) for name, count in cursor.fetchall()}


def _settled_writes(*, timeout: float = 120) -> dict[str, int]:
    """The write counters once every backend has flushed what it counted.

    PostgreSQL 15 flushes a backend's counts when it exits, and when it goes idle, but at most
    once a second: counts left over then wait for an idle timer of 10 s (``PGSTAT_IDLE_INTERVAL``).
    So this process's own connection is closed (its backend exits), and the counters are read
    once every other client backend of this database has been idle for longer than that, and
    two readings a second apart agree."""
    connection.close()
    deadline = time.monotonic() + timeout
    while True:
        if time.monotonic() > deadline:
            raise TimeoutError("the database's backends did not settle")
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND backend_type = 'client backend' AND pid <> pg_backend_pid() "
                "AND (state <> 'idle' OR state_change > now() - interval '11 seconds')"
            )
            row = cursor.fetchone()
        if row is not None and row[0] == 0:
            first = _writes()
            time.sleep(1)
            if _writes() == first:
                return first
        time.sleep(0.5)


def _backends_since(started: datetime) -> int:
    """Client connections to this database opened at or after ``started``, but this one."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND backend_type = 'client backend' AND backend_start >= %s AND pid <> pg_backend_pid()",
            [started],
        )
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def _db_now() -> datetime:
    with connection.cursor() as cursor:
        cursor.execute("SELECT now()")
        row = cursor.fetchone()
    assert row is not None
    return row[0]  # type: ignore[no-any-return]


def _wait_webhooks(codes: list[int], *, timeout: float) -> None:
    """Until Seam's two webhooks of each code are in, and no other webhook has come for 3 s."""
    seam_ids = list(AccessCode.objects.filter(pk__in=codes).values_list("seam_access_code_id", flat=True))
    ours = WebhookDelivery.objects.filter(
        seam_access_code_id__in=seam_ids, event_type__in=["access_code.created", "access_code.set_on_device"]
    )
    procs.wait_until(lambda: ours.count() >= 2 * len(codes), timeout=timeout, every=0.5, what="the webhooks")
    last, quiet_since = WebhookDelivery.objects.count(), time.monotonic()
    while time.monotonic() - quiet_since < 3:
        time.sleep(0.5)
        now = WebhookDelivery.objects.count()
        if now != last:
            last, quiet_since = now, time.monotonic()


def _queued(url: str) -> int:
    """Messages waiting in the Celery queue or delivered and not yet acknowledged."""
    client = redis.Redis.from_url(url)
    waiting: int = sum(client.llen(name) for name in redis_queue_lists("celery"))  # type: ignore[misc]
    return waiting + int(client.hlen("unacked"))  # type: ignore[arg-type]


def _task_results(log: str) -> Counter[str]:
    """What each ``feed_sync_task`` the worker finished returned, from its INFO log."""
    results: Counter[str] = Counter()
    for line in log.splitlines():
        if "feeds.tasks.feed_sync_task[" not in line:
            continue
        if " succeeded in " in line:
            said = line.split(" succeeded in ", 1)[1].partition(": ")[2]
            results[said.strip().strip("'\"")] += 1
        elif " raised " in line:
            results["raised"] += 1
    return results


def feeds(context: scenarios.Context, *, count: int = FEEDS) -> dict[str, Any]:
    print(f"feeds: {count} unit feeds, a first sync that books, then one where nothing changed", flush=True)
    today = date.today()  # noqa: DTZ011 - the site's day, give or take: stays are weeks ahead
    server = FeedServer(bodies={f"/feeds/{n}.ics": feed_body(n, today) for n in range(count)})
    base_url = server.start()
    worker_env = {
        # The worker fetches from 127.0.0.1 (DEBUG is off in the benchmark).
        "FEEDS_ALLOW_PRIVATE_ADDRESSES": "1",
        # The fan-outs are sent from here, at known times: beat never sends one of its own.
        "FEEDS_SYNC_INTERVAL_SECONDS": "86400",
        "CODES_FIRST_CHECK_SECONDS": "3",
        "SEAM_TIMEOUT_SECONDS": "10",
    }
    sim_args = ["--bench-doors", str(FIRST_DOOR - 1 + count), "--setting-after", "0.5", "--set-after", "1.5"]
    redis_url = context.env["REDIS_URL"]
    result: dict[str, Any] = {"feeds": count, "worker_concurrency": scenarios.WORKER_CONCURRENCY}
    try:
        with scenarios.stack(context, name="feeds", webhooks=True, sim_args=sim_args, worker_env=worker_env) as run:
            # This simulator has doors the other scenarios' do not: import them (stack() syncs
            # only once per run).
            locks_sync(client=SeamClient(api_key=context.api_key, endpoint=run.sim_url, timeout=60.0))
            feed_rows = _make_feeds(base_url, count)
            feed_ids = [feed.pk for feed in feed_rows]

            # 1. The first sync: every stay booked, its code created at the simulator.
            run.start()
            began = time.monotonic()
            feeds_sync_task.delay()
            procs.wait_until(
                lambda: not CalendarFeed.objects.filter(pk__in=feed_ids, last_success_at__isnull=True).exists(),
                timeout=900,
                every=0.5,
                what="every feed's first sync",
            )
            result["seconds_first_sync"] = round(time.monotonic() - began, 1)
            first_counts = dict(server.counts)
            codes = list(
                AccessCode.objects.filter(reservation__feed_stays__feed_id__in=feed_ids).values_list("pk", flat=True)
            )
            set_after = scenarios.wait_all(codes, {AccessCode.Status.SET}, timeout=600)
            result["seconds_first_codes_set"] = round(time.monotonic() - began, 1) if set_after is not None else None
            # A code is often set by its first check before the simulator, sending one webhook
            # at a time, has delivered its two (created, set on the device): wait for them too.
            _wait_webhooks(codes, timeout=600)
            result["seconds_first_webhooks_in"] = round(time.monotonic() - began, 1)
            reservations = Reservation.objects.filter(feed_stays__feed_id__in=feed_ids)
            result["booked"] = reservations.count()
            result["expected_stays"] = sum(1 + (n % 2 == 0) for n in range(count))
            result["needs_attention"] = reservations.exclude(attention="").count()
            result["codes"] = len(codes)
            result["code_statuses"] = dict(scenarios.statuses(codes))
            result["failing_feeds"] = CalendarFeed.objects.filter(pk__in=feed_ids).exclude(last_error="").count()
            result["feeds_with_etag"] = CalendarFeed.objects.filter(pk__in=feed_ids).exclude(etag="").count()
            result["first_sync_requests"] = first_counts
            for process in (run.beat, run.worker):
                if process is not None:
                    process.stop()
            run.beat = None

            # 2. Nothing changed: one conditional GET per feed, no write.
            result["queued_before_unchanged"] = _queued(redis_url)
            feed_rows = list(CalendarFeed.objects.filter(pk__in=feed_ids))
            unchanged = _sync_round(run, server, feed_rows, name="worker-feeds-unchanged")
            # 3. The control: one feed's body changes (its DTSTAMP only, so its stays stay as they
            # are): the same counting must see that feed's one write (its new ETag and digest).
            server.bodies["/feeds/0.ics"] = feed_body(0, today, stamp="20300101T000000Z")
            control = _sync_round(run, server, feed_rows, name="worker-feeds-control")
    finally:
        server.stop()
    count_of = unchanged.counts.get
    result.update(
        {
            "requests": count_of("requests", 0),
            "conditional_requests": count_of("conditional", 0),
            "not_modified": count_of("not_modified", 0),
            "full_bodies": count_of("full_body", 0),
            "other_answers": count_of("not_found", 0),
            "feeds_requested": len(unchanged.per_path),
            "most_requests_of_a_feed": max(unchanged.per_path.values(), default=0),
            "writes": sum(unchanged.writes_by_table.values()),
            "writes_by_table": unchanged.writes_by_table,
            "task_results": dict(unchanged.results),
            "feeds_not_checked": unchanged.unchecked,
            "seconds_unchanged_sync": round(unchanged.seconds, 2),
            "seconds_unchanged_sync_done": round(unchanged.done, 2),
            "conditional_share": round(count_of("conditional", 0) / count, 3),
            "requests_per_feed": round(count_of("requests", 0) / count, 3),
            "control_one_feed_changed": {
                "requests": control.counts.get("requests", 0),
                "full_bodies": control.counts.get("full_body", 0),
                "writes": sum(control.writes_by_table.values()),
                "writes_by_table": control.writes_by_table,
                "task_results": dict(control.results),
            },
        }
    )
    return result


@dataclass
class Round:
    """One fan-out through a fresh worker: what the server saw, what the tasks returned, and the
    rows written meanwhile, per table."""

    counts: dict[str, int]
    per_path: dict[str, int]
    results: Counter[str]
    writes_by_table: dict[str, int]
    seconds: float  # from the fan-out to the last feed's answer
    done: float  # from the fan-out to the last task's end
    unchecked: int  # feeds whose last check (in the cache) is older than the fan-out


def _sync_round(run: scenarios.Stack, server: FeedServer, feeds: list[CalendarFeed], *, name: str) -> Round:
    """A fresh worker (its start is not the sync's); the write counters read once everything
    before has settled; the fan-out; the worker stopped once every feed's task is done and its
    connections gone; the counters read again. Between the two readings this process makes no
    database query."""
    redis_url = run.worker_env["REDIS_URL"]
    count = len(feeds)
    worker_started = _db_now()
    worker = procs.start_worker(
        env=run.worker_env, log_dir=run.context.logs, concurrency=scenarios.WORKER_CONCURRENCY, name=name
    )
    run.worker = worker
    before = _settled_writes()
    server.reset()
    checked_from = datetime.now(UTC)
    began = time.monotonic()
    feeds_sync_task.delay()
    procs.wait_until(lambda: server.counts["requests"] >= count, timeout=600, every=0.05, what="a request per feed")
    seconds = server.answered[count - 1] - began

    def finished() -> bool:
        return sum(_task_results(worker.log_text()).values()) >= count and _queued(redis_url) == 0

    procs.wait_until(finished, timeout=600, every=0.25, what="every feed_sync_task")
    done = time.monotonic() - began
    # The cache only (Redis): the feeds' rows were read before the fan-out.
    unchecked = sum(1 for feed in feeds if (checked := last_checked(feed)) is None or checked < checked_from)
    time.sleep(1)  # a stray extra request would show
    counts, per_path = dict(server.counts), dict(server.per_path)
    results = _task_results(worker.log_text())
    worker.stop()
    procs.wait_until(
        lambda: _backends_since(worker_started) == 0, timeout=60, what="the worker's connections to close"
    )
    after = _settled_writes()
    delta = {table: after.get(table, 0) - before.get(table, 0) for table in after}
    return Round(
        counts=counts,
        per_path=per_path,
        results=results,
        writes_by_table={table: n for table, n in sorted(delta.items()) if n},
        seconds=seconds,
        done=done,
        unchecked=unchecked,
    )
