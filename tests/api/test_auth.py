"""Who gets in: a token from `manage.py drf_create_token`, or a staff session (with CSRF);
nobody else, not an inactive user, not a user on no site; and each user only so often."""

import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.urls import reverse
from rest_framework.test import APIClient

from api.access import UserThrottle
from api.checks import api_throttle_rate_check
from tests.api.helpers import stay, token_client
from tests.builders import make_staff

pytestmark = pytest.mark.django_db

UNITS = "/api/v1/units/"


def test_a_call_without_a_token_is_refused_with_401(apartment):
    response = APIClient().get(UNITS)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json() == {"detail": "Authentication credentials were not provided."}


def test_a_wrong_token_is_refused_with_401(apartment):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token 0123456789abcdef0123456789abcdef01234567")

    assert client.get(UNITS).status_code == 401


def test_drf_create_token_prints_a_token_that_works(maria, apartment):
    out = StringIO()
    call_command("drf_create_token", "maria", stdout=out)

    key = re.search(r"Generated token (\w+) for user maria", out.getvalue())
    assert key, out.getvalue()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key.group(1)}")
    response = client.get(UNITS)
    assert response.status_code == 200
    assert [unit["name"] for unit in response.json()["results"]] == ["Apartment 1A"]


def test_the_token_of_a_deactivated_user_stops_working(maria, api, apartment):
    maria.is_active = False
    maria.save()

    assert api.get(UNITS).status_code == 401


def test_a_user_on_no_site_is_told_so(apartment):
    response = token_client(make_staff("newcomer")).get(UNITS)

    assert response.status_code == 403
    assert "staff of no site" in response.json()["detail"]


def test_a_signed_in_staff_member_can_call_it_but_writes_need_the_csrf_token(maria, apartment):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(maria)

    assert client.get(UNITS).status_code == 200
    refused = client.post("/api/v1/reservations/", stay(apartment), format="json")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]

    client.get(reverse("login"))  # sets the CSRF cookie, as any page does
    token = client.cookies["csrftoken"].value
    booked = client.post("/api/v1/reservations/", stay(apartment), format="json", HTTP_X_CSRFTOKEN=token)
    assert booked.status_code == 201


@override_settings(API_THROTTLE_RATE="3/minute")
def test_each_user_is_throttled_on_their_own(maria, api, apartment):
    # Counts from earlier runs of the suite may linger in a shared cache under the same user id.
    UserThrottle().cache.delete(f"throttle_api_{maria.pk}")

    answers = [api.get(UNITS).status_code for _ in range(4)]

    assert answers == [200, 200, 200, 429]
    limited = api.get(UNITS)
    assert limited.status_code == 429
    assert int(limited["Retry-After"]) > 0
    assert "throttled" in limited.json()["detail"]
    colleague = make_staff("ben", apartment.site)
    UserThrottle().cache.delete(f"throttle_api_{colleague.pk}")
    assert token_client(colleague).get(UNITS).status_code == 200


@pytest.mark.parametrize(
    ("rate", "errors"), [("600/minute", []), ("20/s", []), ("lots", ["api.E001"]), ("5", ["api.E001"])]
)
def test_a_mistyped_throttle_rate_fails_the_system_check(rate, errors):
    with override_settings(API_THROTTLE_RATE=rate):
        assert [error.id for error in api_throttle_rate_check()] == errors


def test_api_tokens_in_the_admin_are_for_superusers_only(client):
    from django.contrib.auth.models import Permission
    from django.urls import reverse
    from rest_framework.authtoken.models import Token

    from tests.builders import make_site, make_staff

    staff = make_staff("viewer", make_site("Tokens Site"))
    staff.user_permissions.set(Permission.objects.filter(content_type__app_label="authtoken"))
    token = Token.objects.create(user=staff)
    client.force_login(staff)

    assert client.get(reverse("admin:authtoken_tokenproxy_changelist")).status_code == 403
    assert token.key not in client.get(reverse("admin:index")).content.decode()
    client.force_login(make_staff("root", superuser=True))
    assert token.key in client.get(reverse("admin:authtoken_tokenproxy_changelist")).content.decode()
