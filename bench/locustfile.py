"""Locust users for the dashboard benchmark: each asks for one page again and again, logged in.

``make bench`` runs it headless with ``BENCH_PATH`` (the page) and ``BENCH_SESSION`` (a session
cookie of a staff user made by the benchmark); no think time, so 20 users are 20 clients
always waiting for an answer.
"""

import os

from locust import HttpUser, task

PATH = os.environ.get("BENCH_PATH", "/")
SESSION = os.environ.get("BENCH_SESSION", "")


class StaffUser(HttpUser):
    def on_start(self) -> None:
        self.client.cookies.set("sessionid", SESSION)

    @task
    def page(self) -> None:
        with self.client.get(PATH, name=PATH, allow_redirects=False, catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"status {response.status_code}")
