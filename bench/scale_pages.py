"""The pages at scale (``scale.pages`` in the report): each staff page and the API's reservation
list under ``CLIENTS`` concurrent clients, over a chain of 1,000 doors at 1k, 10k and 100k stays.

The chain (:mod:`bench.chain`) shows the same at every size, so the page's work should be the
same: throughput at 100k against throughput at 1k is the measure (a ratio within one run, so
the machine's noise cancels), and the queries each page makes must not change.

Each size is a database of its own: the chain is built in one, copied (``CREATE DATABASE ...
TEMPLATE``) as it passes 1k and 10k, and grown on to 100k; a gunicorn serves each. The three are
then asked side by side: ``CLIENTS`` clients on each, all at once, each size's answers counted
in the same window of time. Whatever else this shared box does in those seconds falls on all
three alike; they share its CPU evenly, so each answers in inverse proportion to what its page
costs, which is what the ratio compares. (Asked one
after another, minutes apart, the same page's rate moved by a quarter from one run to the next,
more than the goal's tenth.) Each page is asked ``ROUNDS`` times: a size's rate is the median of
its rounds, and the page's ratio the median of the rounds' ratios.
"""

import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests
from django.core.management import call_command
from django.db import connections
from django.test import Client

from bench import chain, procs
from bench.databases import create_database, database_url, drop_databases, named_after, on_database
from bench.scenarios import GUNICORN_WORKERS, Context, nearest_rank, page_queries

SIZES = (1_000, 10_000, 100_000)
PAGES = {
    "dashboard": "/",
    "reservations": "/reservations/",
    "units": "/units/",
    "doors": "/doors/",
    "ledger": "/ledger/",
    "api_reservations": "/api/v1/reservations/",
}
# Clients on each size's gunicorn (3 workers): more than its workers, so none waits for work.
CLIENTS = 8
# A round counts answers for SECONDS, after RAMP seconds in which every client has begun, and
# longer (up to LONGEST) until every server has answered ANSWERS times in it.
SECONDS = 15
RAMP = 2.0
ANSWERS = 40
LONGEST = 150.0
ROUNDS = 3


def pages(context: Context) -> dict[str, Any]:
    print(f"scale pages: a chain of {chain.SITES * chain.DOORS_PER_SITE} doors", flush=True)
    url = context.env["DATABASE_URL"]
    databases = {size: named_after(url, f"chain_{size}") for size in SIZES}
    servers: dict[int, procs.Process] = {}
    try:
        session, queries = _build(context, databases)
        urls: dict[int, str] = {}
        for size, name in databases.items():
            port = procs.free_port()
            env = {**context.env, "DATABASE_URL": database_url(url, name)}
            servers[size] = procs.start_gunicorn(
                env=env, log_dir=context.logs, port=port, workers=GUNICORN_WORKERS, name=f"gunicorn-chain-{size}"
            )
            urls[size] = f"http://127.0.0.1:{port}"
            _warm(urls[size], session)
        rounds: dict[tuple[str, int], list[dict[str, Any]]] = {(page, size): [] for page in PAGES for size in SIZES}
        for turn in range(ROUNDS):
            for page, path in PAGES.items():
                print(f"scale pages: round {turn + 1}, {page}, {CLIENTS} clients on each size", flush=True)
                for size, measured in side_by_side(urls, path, session).items():
                    rounds[page, size].append(measured)
    finally:
        for server in servers.values():
            server.stop()
        if not context.keep_databases:
            drop_databases(url, databases.values())
    points = [_point(size, queries[size], rounds) for size in SIZES]
    first = points[0]
    # Each round's ratio is of answers counted in the same seconds: the median of those.
    ratios = {
        page: round(
            statistics.median(
                big["rps"] / max(small["rps"], 0.001)
                for small, big in zip(rounds[page, SIZES[0]], rounds[page, SIZES[-1]], strict=True)
            ),
            3,
        )
        for page in PAGES
    }
    return {
        "doors": chain.SITES * chain.DOORS_PER_SITE,
        "sites": chain.SITES,
        "current_stays": chain.CURRENT,
        "sizes": list(SIZES),
        "clients": CLIENTS,
        "measured": "side by side: every size's server under load at once, answers counted in the same seconds",
        "seconds_per_run": SECONDS,
        "answers_per_run": ANSWERS,
        "rounds": ROUNDS,
        "databases": list(databases.values()),
        "throughput_ratio": ratios,
        "throughput_ratio_min": min(ratios.values()),
        "queries": {page: [point[f"{page}_queries"] for point in points] for page in PAGES},
        "queries_constant": all(
            point[f"{page}_queries"] == first[f"{page}_queries"] for point in points for page in PAGES
        ),
        "failures": sum(point[f"{page}_failures"] for point in points for page in PAGES),
        "points": points,
    }


def _build(context: Context, databases: dict[int, str]) -> tuple[str, dict[int, dict[str, int]]]:
    """The chain, grown size by size in the largest size's database and copied into each
    smaller size's as it passes it: (a staff session valid in all of them, each size's queries
    per page, counted in-process)."""
    last = databases[SIZES[-1]]
    url = context.env["DATABASE_URL"]
    drop_databases(url, databases.values())
    create_database(url, last)
    queries: dict[int, dict[str, int]] = {}
    with on_database(last):
        call_command("migrate", verbosity=0)
        built = chain.build()
        client = Client()
        client.force_login(built.user)
        session = client.cookies["sessionid"].value
        for size in SIZES:
            chain.grow(built, size)
            queries[size] = {page: page_queries(client, path) for page, path in PAGES.items()}
            if size != SIZES[-1]:
                # A template database takes no connections while it is copied: ours closes.
                connections["default"].close()
                create_database(url, databases[size], template=last)
    return session, queries


def _point(size: int, queries: dict[str, int], rounds: dict[tuple[str, int], list[dict[str, Any]]]) -> dict[str, Any]:
    """One size's measures: per page, the median of its rounds (rate and latencies), every
    round's rate, the requests and failures of all rounds, and the queries."""
    point: dict[str, Any] = {"reservations": size}
    for page in PAGES:
        runs = rounds[page, size]
        answered = [run for run in runs if run["requests"]]
        point[f"{page}_queries"] = queries[page]
        point[f"{page}_rps"] = round(statistics.median(run["rps"] for run in runs), 3)
        point[f"{page}_rps_rounds"] = [run["rps"] for run in runs]
        for latency in ("p50_ms", "p95_ms"):
            values = [run[latency] for run in answered]
            point[f"{page}_{latency}"] = statistics.median(values) if values else None
        point[f"{page}_requests"] = sum(run["requests"] for run in runs)
        point[f"{page}_failures"] = sum(run["failures"] for run in runs)
    return point


def _warm(url: str, session: str) -> None:
    """Every page twice on every gunicorn worker, so no round pays a worker's first request."""
    cookies = {"sessionid": session}
    paths = [path for path in PAGES.values() for _ in range(2 * GUNICORN_WORKERS)]
    with ThreadPoolExecutor(max_workers=GUNICORN_WORKERS) as pool:
        answers = list(pool.map(lambda path: requests.get(url + path, cookies=cookies, timeout=120), paths))
    failed = {answer.url: answer.status_code for answer in answers if answer.status_code != 200}
    if failed:
        raise RuntimeError(f"scale pages: pages failed before the rounds: {failed}")


def side_by_side(urls: dict[int, str], path: str, session: str) -> dict[int, dict[str, Any]]:
    """``path`` asked of every server at once by ``CLIENTS`` clients each (threads, no think
    time): per server, the answers completed in one window common to all, as requests a second,
    their latency percentiles, and failures (any answer but 200).

    The window opens ``RAMP`` seconds after the clients start and closes after ``SECONDS``, or
    later, once every server has answered ``ANSWERS`` times in it (at most ``LONGEST``): a page
    answered 9 times in a window moves its rate by a ninth with one answer more or less."""
    began = time.monotonic()
    opens = began + RAMP
    closes = [began + LONGEST]  # moved earlier once the window has enough answers
    # Per server: (when it came, seconds it took, whether it was a 200), answers after ``opens``.
    answers: dict[int, list[tuple[float, float, bool]]] = {size: [] for size in urls}

    def client(size: int) -> None:
        with requests.Session() as http:
            http.cookies.set("sessionid", session)
            while time.monotonic() < closes[0]:
                sent = time.monotonic()
                try:
                    ok = http.get(urls[size] + path, allow_redirects=False, timeout=120).status_code == 200
                except requests.RequestException:
                    ok = False
                answered = time.monotonic()
                if answered >= opens:
                    answers[size].append((answered, answered - sent, ok))

    threads = [threading.Thread(target=client, args=(size,)) for size in urls for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    while time.monotonic() < closes[0]:
        time.sleep(0.1)
        now = time.monotonic()
        if now >= opens + SECONDS and all(len(done) >= ANSWERS for done in answers.values()):
            closes[0] = now
    for thread in threads:
        thread.join()
    seconds = closes[0] - opens
    measured: dict[int, dict[str, Any]] = {}
    for size, everything in answers.items():
        done = [(took, ok) for at, took, ok in everything if at < closes[0]]
        latencies = sorted(took * 1000 for took, _ in done)
        measured[size] = {
            "rps": round(len(done) / seconds, 3),
            "p50_ms": nearest_rank(latencies, 0.5, 1),
            "p95_ms": nearest_rank(latencies, 0.95, 1),
            "requests": len(done),
            "failures": sum(1 for _, ok in done if not ok),
            "seconds": round(seconds, 1),
        }
    return measured
