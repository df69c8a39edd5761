"""The pages at scale (``scale.pages`` in the report): each staff page and the API's reservation
list under ``CLIENTS`` concurrent clients, over a chain of 1,000 doors at 1k, 10k and 100k stays.

The chain (:mod:`bench.chain`) shows the same at every size, so the page's work should be the
same: throughput at 100k against throughput at 1k is the measure (a ratio within one run, so
the machine's noise cancels), and the queries each page makes must not change.
"""

from typing import Any

from django.test import Client

from bench import chain
from bench.scenarios import Context, locust_run, page_queries

SIZES = (1_000, 10_000, 100_000)
PAGES = {
    "dashboard": "/",
    "reservations": "/reservations/",
    "units": "/units/",
    "doors": "/doors/",
    "ledger": "/ledger/",
    "api_reservations": "/api/v1/reservations/",
}
# Long enough, with few enough clients, that even the dashboard (its fixed cost is the most of
# any page) answers many times in a run: with 20 clients and 8 s a slow page answered a dozen
# times, most of them inside the run's first second, and its rate was noise.
SECONDS = 15
CLIENTS = 8


def pages(context: Context) -> dict[str, Any]:
    print(f"scale pages: a chain of {chain.SITES * chain.DOORS_PER_SITE} doors", flush=True)
    built = chain.build()
    client = Client()
    client.force_login(built.user)
    session = client.cookies["sessionid"].value
    points: list[dict[str, Any]] = []
    for size in SIZES:
        chain.grow(built, size)
        point: dict[str, Any] = {"reservations": size}
        for page, path in PAGES.items():
            point[f"{page}_queries"] = page_queries(client, path)
            print(f"scale pages: {size} stays, {page} under {CLIENTS} clients", flush=True)
            measured = locust_run(context, path, session, f"scale-{page}-{size}", seconds=SECONDS, users=CLIENTS)
            point.update({f"{page}_{key}": value for key, value in measured.items()})
        points.append(point)
    first, last = points[0], points[-1]
    ratios = {page: round(last[f"{page}_rps"] / max(first[f"{page}_rps"], 0.01), 3) for page in PAGES}
    return {
        "doors": chain.SITES * chain.DOORS_PER_SITE,
        "sites": chain.SITES,
        "current_stays": chain.CURRENT,
        "sizes": list(SIZES),
        "clients": CLIENTS,
        "seconds_per_run": SECONDS,
        "throughput_ratio": ratios,
        "throughput_ratio_min": min(ratios.values()),
        "queries": {page: [point[f"{page}_queries"] for point in points] for page in PAGES},
        "queries_constant": all(
            point[f"{page}_queries"] == first[f"{page}_queries"] for point in points for page in PAGES
        ),
        "failures": sum(point[f"{page}_failures"] for point in points for page in PAGES),
        "points": points,
    }
