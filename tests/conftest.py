import os

import pytest

pytest_plugins = [
    "tests.fixtures.simulator",
    "tests.fixtures.fake_seam",
    "tests.fixtures.smtp",
    "tests.fixtures.celery_worker",
    "tests.fixtures.browser",
    "tests.fixtures.calendars",
]


def services_required() -> bool:
    """CI sets REQUIRE_SERVICES=1: a test needing a missing service must fail, not skip."""
    return os.environ.get("REQUIRE_SERVICES", "").lower() in {"1", "true", "yes"}


def skip_or_fail(reason: str) -> None:
    if services_required():
        pytest.fail(f"{reason} (REQUIRE_SERVICES is set, so this is an error)")
    pytest.skip(reason)
