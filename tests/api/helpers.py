"""Builders for the API tests: request bodies, codes made set, a client calling with a token."""

from datetime import date, timedelta
from typing import Any

from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from codes.models import AccessCode
from properties.models import Reservation, Unit
from tests.builders import LA_SLOTS

ARRIVAL = date(2030, 9, 10)
PIN = "482913"
LATE_SLOT: dict[str, Any] = {
    **LA_SLOTS[0],
    "name": "Late 16:00-12:00",
    "prefix": 2,
    "check_in_time": "16:00:00[America/Los_Angeles]",
    "check_out_time": "12:00:00[America/Los_Angeles]",
    "dormakaba_oracode_user_level_id": "0c7e9a52-3f1a-4c1e-9a57-1a2b3c4d5e02",
    "dormakaba_oracode_user_level_prefix": 2,
}


def token_client(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


def stay(unit: Unit, **fields: Any) -> dict[str, Any]:
    """A POST body for a three-night stay in ``unit``; ``fields`` change any of it."""
    body: dict[str, Any] = {
        "unit": unit.pk,
        "guest_name": "Ana Souza",
        "guest_email": "ana@example.com",
        "arrival": ARRIVAL.isoformat(),
        "departure": (ARRIVAL + timedelta(days=3)).isoformat(),
        "external_id": "PMS-4711",
    }
    body.update(fields)
    return body


def set_with_pin(reservation: Reservation, **fields: Any) -> list[AccessCode]:
    """Mark the stay's codes set at Seam, each with the PIN ``PIN``."""
    codes = list(reservation.access_codes.order_by("pk"))
    for i, code in enumerate(codes):
        values = {"status": AccessCode.Status.SET, "code": PIN, "seam_access_code_id": f"seam-{code.pk}-{i}"}
        values.update(fields)
        AccessCode.objects.filter(pk=code.pk).update(**values)
    return list(reservation.access_codes.order_by("pk"))
