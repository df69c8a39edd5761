"""Logins are throttled, staff sessions end after a working day, every page carries the
Content-Security-Policy, and a revealed PIN is never cached."""

from datetime import timedelta

import pytest
import time_machine
from django.conf import global_settings, settings
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from codes.models import AccessCode, AccessCodeEvent
from tests.builders import book, make_lock, make_site, make_staff

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


@pytest.fixture
def ana():
    user = get_user_model().objects.create_user(username="ana", password=PASSWORD)
    user.sites.add(make_site())
    return user


def log_in(client, username: str, password: str, *, address: str = "203.0.113.7", path: str = "/login/"):
    return client.post(path, {"username": username, "password": password}, REMOTE_ADDR=address)


def test_failed_logins_lock_out_that_user_from_that_address(client, ana):
    statuses = [log_in(client, "ana", "wrong").status_code for _ in range(settings.AXES_FAILURE_LIMIT)]

    locked = log_in(client, "ana", PASSWORD)

    # The form answers each wrong password, until the last one allowed locks the pair out.
    assert statuses == [200] * (settings.AXES_FAILURE_LIMIT - 1) + [429]
    assert locked.status_code == 429
    assert "Too many failed logins" in locked.content.decode()
    assert "_auth_user_id" not in client.session


def test_the_lockout_is_per_user_and_address(client, ana):
    get_user_model().objects.create_user(username="ben", password=PASSWORD)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        log_in(client, "ana", "wrong")

    assert log_in(client, "ben", PASSWORD).status_code == 302
    client.logout()
    assert log_in(client, "ana", PASSWORD, address="198.51.100.9").status_code == 302


def test_passwords_are_stored_with_djangos_default_hasher_outside_the_tests():
    # The tests swap in a cheap hasher (tests/conftest.py); the settings the app runs on must not.
    import config.settings as app_settings

    hashers = getattr(app_settings, "PASSWORD_HASHERS", global_settings.PASSWORD_HASHERS)

    assert hashers[0] == "django.contrib.auth.hashers.PBKDF2PasswordHasher"
    assert hashers != settings.PASSWORD_HASHERS, "the tests run on the cheap one"


def test_the_admin_login_is_throttled_too(client, ana):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        log_in(client, "ana", "wrong", path="/admin/login/")

    assert log_in(client, "ana", PASSWORD, path="/admin/login/").status_code == 429


def test_the_lockout_ends_after_the_cool_off(client, ana):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        log_in(client, "ana", "wrong")

    with time_machine.travel(timezone.now() + settings.AXES_COOLOFF_TIME + timedelta(minutes=1)):
        assert log_in(client, "ana", PASSWORD).status_code == 302


def test_a_staff_session_ends_after_a_working_day(client, ana):
    assert log_in(client, "ana", PASSWORD).status_code == 302
    assert client.get("/").status_code == 200

    with time_machine.travel(timezone.now() + timedelta(hours=9)):
        assert client.get("/").status_code == 200
    with time_machine.travel(timezone.now() + timedelta(hours=10, minutes=1)):
        response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_every_page_carries_the_content_security_policy(client, ana):
    client.force_login(ana)

    for path in ["/login/", "/", "/reservations/", "/admin/login/"]:
        policy = client.get(path)["Content-Security-Policy"]
        assert "default-src 'self'" in policy
        assert "script-src 'self'" in policy
        assert "frame-ancestors 'none'" in policy
        assert "unsafe-inline" not in policy
        assert "unsafe-eval" not in policy


def test_a_revealed_pin_is_never_stored_by_a_cache(client):
    site = make_site()
    code = book(make_lock(site), arrival=timezone.now().date() + timedelta(days=20))
    AccessCode.objects.filter(pk=code.pk).update(status=AccessCode.Status.SET, code="482913")
    client.force_login(make_staff("demo", site))

    response = client.post(reverse("code_reveal", args=[code.pk]))

    assert "482913" in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    assert AccessCodeEvent.objects.filter(access_code=code, kind=AccessCodeEvent.Kind.REVEALED).count() == 1
