"""The scale benchmarks' Seam side (``scale.backfill`` and ``scale.hosts`` in the report).

A backfill at Seam's real speed: the simulator answers every call after 300 ms ± 100 ms and
counts Seam's real window (10 creates per door per 60 s), and the app keeps its real margin.
The Celery worker runs the threads pool, so many calls are in flight at once (see
docs/scaling.md for why threads). ``hosts=2`` runs two workers with their own node names and
their own beat, as two hosts would, on one Redis and one PostgreSQL: no code may be created
twice, and the two share each door's cap.
"""

import statistics
import time
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from typing import Any

from bench import procs
from bench.scenarios import (
    CAP,
    Context,
    Stack,
    Status,
    book,
    nearest_rank,
    parse_instant,
    span_fractions,
    stack,
    statuses,
    wait_all,
)
from codes.models import AccessCode, SeamCreateCall

WINDOW = 60.0
LATENCY_MS = 300
JITTER_MS = 100
POOL = "threads"
THREADS = 64


def backfill(
    context: Context,
    *,
    doors: int = 200,
    per_door: int = 20,
    hosts: int = 1,
    threads: int = THREADS,
    name: str = "scale-backfill",
) -> dict[str, Any]:
    """``doors`` × ``per_door`` stays booked first (an import's backlog), then the worker(s)
    start; measured until every code exists at Seam."""
    print(
        f"{name}: {doors} doors x {per_door} codes, {LATENCY_MS}±{JITTER_MS} ms a call, "
        f"{hosts} host(s) x {threads} threads",
        flush=True,
    )
    worker_env = {
        "SEAM_TIMEOUT_SECONDS": "10",
        # Real time: our margin on Seam's window, the sweep's interval and the first check
        # after a create are the defaults, said out loud (the scaled scenarios shrink them).
        "SEAM_CREATE_MARGIN_SECONDS": "1",
        "CODES_SWEEP_INTERVAL_SECONDS": "10",
        "CODES_FIRST_CHECK_SECONDS": "10",
    }
    sim_args = ["--setting-after", "0.5", "--set-after", "1.5"]
    sim_args += ["--latency-ms", str(LATENCY_MS), "--latency-jitter-ms", str(JITTER_MS)]
    with stack(context, name=name, webhooks=True, sim_args=sim_args, worker_env=worker_env, window=WINDOW) as run:
        locks = context.doors(doors)
        began = time.monotonic()
        ids = book(locks, per_door, first_arrival=date.today() + timedelta(days=30))  # noqa: DTZ011
        booked = time.monotonic() - began
        cpu_before = _cpu(run)
        run.start(pool=POOL, concurrency=threads, hosts=hosts)
        created_after = wait_all(ids, {Status.WAITING, Status.SET}, timeout=600, every=1.0)
        set_after = wait_all(ids, {Status.SET}, timeout=120, every=1.0)
        cpu = {part: round(seconds - cpu_before.get(part, 0.0), 1) for part, seconds in _cpu(run).items()}
        state = run.state()
        logs = [process.log_text() for process in run.workers()]
    device_ids = {lock.seam_device_id for lock in locks}
    at_seam = [code for code in state["access_codes"] if code["device_id"] in device_ids]
    created: dict[str, list[datetime]] = defaultdict(list)
    for code in at_seam:
        created[code["device_id"]].append(parse_instant(code["created_at"]))
    fractions = cap_fractions(created, window=WINDOW)
    spans = span_fractions(created, window=WINDOW)
    names = Counter(code["name"] for code in at_seam)
    rows = AccessCode.objects.filter(pk__in=ids)
    ours = set(rows.values_list("name", flat=True))
    duplicates = sum(n - 1 for n in names.values() if n > 1) + sum(1 for n in names if n not in ours)
    lost = rows.exclude(status=Status.SET).count() + len(ours - set(names))
    everything = sorted(t for times in created.values() for t in times)
    first_burst = _first_burst_seconds(created)
    ledger = SeamCreateCall.objects.filter(access_code_id__in=ids)
    calls = ledger.values_list("lock_id", "access_code__name", "sent_at")
    booked_at: dict[str, datetime] = {}
    booked_by_door: dict[int, list[datetime]] = defaultdict(list)
    for lock_id, code_name, sent_at in sorted(calls, key=lambda call: call[2]):
        booked_at[code_name] = sent_at  # its last call: the one Seam took
        booked_by_door[lock_id].append(sent_at)
    # From the app booking a create (the ledger's row) to Seam applying it (after its latency).
    lags = sorted(
        (parse_instant(code["created_at"]) - booked_at[code["name"]]).total_seconds()
        for code in at_seam
        if code["name"] in booked_at
    )
    result: dict[str, Any] = {
        "doors": doors,
        "codes_per_door": per_door,
        "codes": len(ids),
        "hosts": hosts,
        "pool": POOL,
        "threads_per_host": threads,
        "latency_ms": LATENCY_MS,
        "latency_jitter_ms": JITTER_MS,
        "window_seconds": WINDOW,
        "cap_per_window": CAP,
        "cap_fraction": round(statistics.mean(fractions.values()), 3) if fractions else 0.0,
        "cap_fraction_min": round(min(fractions.values()), 3) if fractions else 0.0,
        "doors_below_0_9": sum(1 for f in fractions.values() if f < 0.9),
        "span_fraction": round(statistics.mean(spans.values()), 3) if spans else 0.0,
        "rate_limited": sum(state["rate_limited"].values()),
        # The app's own ledger, all hosts together: the most creates booked on one door within
        # any one of Seam's windows (the cap, 10, if the hosts share it).
        "booked_max_per_window": max((_most_in_window(times, WINDOW) for times in booked_by_door.values()), default=0),
        # Seconds from booking a create to Seam applying it. The door's window is timed from
        # each call's answer, which comes after, so this no longer eats into the margin.
        "booking_to_seam_seconds": {
            name: nearest_rank(lags, share, 3) for name, share in (("min", 0), ("p50", 0.5), ("p99", 0.99), ("max", 1))
        },
        "duplicates": duplicates,
        "lost": lost,
        "created_at_seam": len(everything),
        "first_window_creates_per_second": round(doors * CAP / first_burst, 1) if first_burst else None,
        "cap_creates_per_second": round(doors * CAP / WINDOW, 1),
        "seconds": round(created_after, 1) if created_after is not None else None,
        "seconds_to_all_set": round(created_after + set_after, 1) if created_after and set_after else None,
        "booking_seconds": round(booked, 1),
        "statuses": dict(statuses(ids)),
        # Where the machine's CPU went while the codes were made (seconds, by part).
        "cpu_seconds": cpu,
        "tasks_by_worker": {f"worker {n + 1}": log.count(" succeeded in ") for n, log in enumerate(logs)},
    }
    done = list(result["tasks_by_worker"].values())
    if hosts > 1 and sum(done):
        # The share of the tasks the less busy worker ran: both took part, under one cap per door.
        result["task_share_min"] = round(min(done) / sum(done), 3)
    if everything:
        start = everything[0]
        bins: Counter[int] = Counter(int((t - start).total_seconds() // 5) for t in everything)
        result["creates_per_second_series"] = [(b * 5.0, bins.get(b, 0) / 5) for b in range(max(bins) + 1)]
    return result


def cap_fractions(created: dict[str, list[datetime]], *, window: float) -> dict[str, float]:
    """Per door with more codes than one window's cap: how full the door's rolling window was
    kept while it had codes waiting (1.0 is Seam's limit).

    Seam's cap is rolling: a door's k-th create may go once its (k - CAP)-th has left the
    window. So each create after the first ``CAP`` is measured against that moment: the window
    over the gap actually taken, ``window / (t[k] - t[k - CAP])``, averaged over the door's
    creates. A door whose every create goes the moment the window lets it scores
    ``window / (window + margin)`` (0.98 with Seam's 60 s and our 1 s); one whose creates wait
    on the workers (too few calls in flight) scores lower in proportion."""
    fractions = {}
    for device, times in created.items():
        times = sorted(times)
        gaps = [(times[k] - times[k - CAP]).total_seconds() for k in range(CAP, len(times))]
        if gaps and min(gaps) > 0:
            fractions[device] = len(gaps) * window / sum(gaps)
    return fractions


def _most_in_window(times: list[datetime], window: float) -> int:
    """The most of ``times`` (sorted) within any ``window`` seconds."""
    most, first = 0, 0
    for last, at in enumerate(times):
        while (at - times[first]).total_seconds() >= window:
            first += 1
        most = max(most, last - first + 1)
    return most


def _first_burst_seconds(created: dict[str, list[datetime]]) -> float:
    """Seconds from the first create of all to the last door's ``CAP``-th create: how long the
    first window's creates, which Seam allows all at once, took to send."""
    if not created:
        return 0.0
    start = min(min(times) for times in created.values())
    tenth = max(sorted(times)[min(CAP, len(times)) - 1] for times in created.values())
    return max((tenth - start).total_seconds(), 0.001)


def _cpu(run: Stack) -> dict[str, float]:
    """CPU seconds so far of the simulator, gunicorn and the workers, and of the whole machine
    (PostgreSQL, Redis, this process and anything else running are the difference)."""
    parts = {"simulator": run.simulator.cpu_seconds()}
    if run.context.web is not None:
        parts["gunicorn"] = run.context.web.cpu_seconds()
    for process in run.workers():
        parts[process.name] = process.cpu_seconds()
    parts["machine"] = procs.machine_cpu_seconds()
    return parts
