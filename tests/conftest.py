import copy
import os
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings

pytest_plugins = [
    "tests.fixtures.simulator",
    "tests.fixtures.fake_seam",
    "tests.fixtures.smtp",
    "tests.fixtures.celery_worker",
    "tests.fixtures.browser",
    "tests.fixtures.calendars",
]

# Django's default hasher (PBKDF2, a million rounds) spends one to three seconds of CPU on every
# password set or checked: most of the suite's time went to make_staff and logins. Tests are
# not about the hash's cost, so they store passwords with a cheap one; production keeps
# Django's default (tests/config/test_security.py checks that settings do not change it).
TEST_PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _per_worker_caches() -> dict[str, Any]:
    """Under pytest-xdist every worker has its own test database, so the same primary keys come
    up in each; what the cache keeps by key (API throttles per user, a feed's last check) must
    not leak between workers sharing one Redis: each worker prefixes its keys with its name."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker:
        return {}
    caches = copy.deepcopy(settings.CACHES)
    for cache in caches.values():
        cache["KEY_PREFIX"] = f"{cache.get('KEY_PREFIX', '')}test-{worker}"
    return {"CACHES": caches}


@pytest.fixture(autouse=True, scope="session")
def _test_session_settings(django_test_environment: None) -> Iterator[None]:
    with override_settings(PASSWORD_HASHERS=TEST_PASSWORD_HASHERS, **_per_worker_caches()):
        yield


def services_required() -> bool:
    """CI sets REQUIRE_SERVICES=1: a test needing a missing service must fail, not skip."""
    return os.environ.get("REQUIRE_SERVICES", "").lower() in {"1", "true", "yes"}


def skip_or_fail(reason: str) -> None:
    if services_required():
        pytest.fail(f"{reason} (REQUIRE_SERVICES is set, so this is an error)")
    pytest.skip(reason)
