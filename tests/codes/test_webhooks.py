"""Seam webhooks at POST /seam/webhook/: Svix signatures, redeliveries, and codes made current.

Requests are signed with ``standardwebhooks`` exactly as Svix signs them (headers ``svix-id``,
``svix-timestamp``, ``svix-signature``). Codes live at the in-process simulator, so the refresh a
webhook queues really asks Seam (the simulator over HTTP) where the code stands.
"""

import base64
import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from codes.models import AccessCode, AccessCodeEvent, WebhookDelivery
from codes.services import access_code_create, access_code_request
from codes.windows import offer_windows
from locks.models import Lock
from locks.seam import SeamClient
from locks.services import locks_sync
from locks.simulator import demo
from locks.simulator.server import SimulatorServer
from tests.builders import make_reservation
from tests.fixtures.simulator import SIMULATOR_API_KEY

URL = "/seam/webhook/"
SECRET = "whsec_" + base64.b64encode(b"a test secret of thirty-two bytes").decode()
OTHER_SECRET = "whsec_" + base64.b64encode(b"somebody else's secret, not ours").decode()
SLOT = "Guest 15:00-11:00"

Status = AccessCode.Status
Kind = AccessCodeEvent.Kind

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def webhook_settings(settings: Any) -> Any:
    settings.SEAM_WEBHOOK_SECRET = SECRET
    # Never reach a broker: a queued task runs in place when its transaction commits.
    settings.CELERY_TASK_ALWAYS_EAGER = True
    return settings


def point_settings_at(settings: Any, simulator: SimulatorServer) -> SeamClient:
    """Make ``seam_client_from_settings`` (used by the tasks) talk to ``simulator``."""
    settings.SEAM_API_KEY = SIMULATOR_API_KEY
    settings.SEAM_ENDPOINT = simulator.url
    return SeamClient(api_key=SIMULATOR_API_KEY, endpoint=simulator.url, timeout=5)


def request_code(client: SeamClient) -> AccessCode:
    """A reservation in Room 101 a month ahead and its pending code; the doors come from Seam."""
    locks_sync(client=client)
    door = Lock.objects.get(seam_device_id=demo.OCEAN_BEACH_ROOM_101)
    arrival = timezone.localdate() + timedelta(days=30)
    reservation = make_reservation(door, arrival=arrival)
    windows = offer_windows(door.time_slots, arrival=arrival, departure=reservation.departure, now=timezone.now())
    window = next(w for w in windows if w.slot_name == SLOT)
    return access_code_request(reservation=reservation, window=window)


@pytest.fixture
def waiting_code(seam_simulator: SimulatorServer, settings: Any) -> AccessCode:
    """A code created at the simulator, which has not set it on the door yet."""
    client = point_settings_at(settings, seam_simulator)
    code = access_code_create(access_code_id=request_code(client).pk, client=client)
    assert code.status == Status.WAITING
    assert code.seam_access_code_id
    return code


def event_body(event_type: str, access_code_id: str, **extra: Any) -> str:
    return json.dumps(
        {
            "event_id": str(uuid.uuid4()),
            "event_type": event_type,
            "access_code_id": access_code_id,
            "device_id": demo.OCEAN_BEACH_ROOM_101,
            "workspace_id": demo.WORKSPACE_ID,
            "occurred_at": timezone.now().isoformat(),
            **extra,
        }
    )


def svix_headers(
    body: str, *, secret: str = SECRET, msg_id: str | None = None, at: datetime | None = None
) -> dict[str, str]:
    """The three headers Svix sends: the message id, Unix seconds, and ``v1,<base64 HMAC>``."""
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    at = at or timezone.now()
    return {
        "svix-id": msg_id,
        "svix-timestamp": str(int(at.timestamp())),
        "svix-signature": Webhook(secret).sign(msg_id, at, body),
    }


def post(client: Client, body: str, headers: dict[str, str]) -> Any:
    return client.post(URL, data=body, content_type="application/json", headers=headers)


def assert_nothing_recorded() -> None:
    assert not WebhookDelivery.objects.exists()
    assert not AccessCodeEvent.objects.filter(kind=Kind.WEBHOOK).exists()


# Accepted deliveries


def test_a_signed_set_on_device_webhook_makes_the_code_set(
    client: Client,
    waiting_code: AccessCode,
    seam_simulator: SimulatorServer,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    seam_simulator.advance_clock(timedelta(seconds=30))  # the lock system has set the code by now
    body = event_body("access_code.set_on_device", waiting_code.seam_access_code_id)
    headers = svix_headers(body)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = post(client, body, headers)

    assert response.status_code == 204
    assert len(callbacks) == 1  # the refresh, queued on commit
    delivery = WebhookDelivery.objects.get()
    assert delivery.svix_id == headers["svix-id"]
    assert delivery.event_type == "access_code.set_on_device"
    assert delivery.seam_access_code_id == waiting_code.seam_access_code_id
    assert delivery.payload == json.loads(body)
    waiting_code.refresh_from_db()
    assert waiting_code.status == Status.SET
    assert waiting_code.code  # the PIN, fetched from Seam
    kinds = list(waiting_code.events.values_list("kind", "message"))
    assert (Kind.WEBHOOK, "access_code.set_on_device") in kinds
    assert kinds[-1][0] == Kind.SET


def test_the_webhook_is_not_trusted_over_seam(
    client: Client, waiting_code: AccessCode, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    # The payload says "set", but Seam (the simulator, clock not moved) has not set it yet.
    body = event_body("access_code.set_on_device", waiting_code.seam_access_code_id, code="123456")

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = post(client, body, svix_headers(body))

    assert response.status_code == 204
    assert len(callbacks) == 1
    waiting_code.refresh_from_db()
    assert waiting_code.status == Status.WAITING
    assert waiting_code.code == ""
    assert waiting_code.checks == 1  # it did ask Seam


@pytest.mark.parametrize(
    "event_type",
    [
        "access_code.set_on_device",
        "access_code.failed_to_set_on_device",
        "access_code.delay_in_setting_on_device",
        "access_code.changed",
    ],
)
def test_each_code_event_records_and_queues_one_refresh(
    client: Client,
    waiting_code: AccessCode,
    django_capture_on_commit_callbacks: Callable[..., Any],
    event_type: str,
) -> None:
    body = event_body(event_type, waiting_code.seam_access_code_id)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = post(client, body, svix_headers(body))

    assert response.status_code == 204
    assert len(callbacks) == 1
    assert WebhookDelivery.objects.get().event_type == event_type
    assert waiting_code.events.filter(kind=Kind.WEBHOOK, message=event_type).count() == 1


def test_a_created_event_is_recorded_but_costs_no_call_to_seam(
    client: Client, waiting_code: AccessCode, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    # The create call's own answer already stored what this event says.
    body = event_body("access_code.created", waiting_code.seam_access_code_id)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = post(client, body, svix_headers(body))

    assert response.status_code == 204
    assert callbacks == []
    assert waiting_code.events.filter(kind=Kind.WEBHOOK, message="access_code.created").count() == 1


def test_a_redelivery_is_acknowledged_and_handled_once(
    client: Client, waiting_code: AccessCode, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    body = event_body("access_code.set_on_device", waiting_code.seam_access_code_id)
    first = svix_headers(body, msg_id="msg_2LJmHXSxHfCKn0QzsbN3PvSc4Ba")
    # Svix signs every retry afresh, with a new timestamp but the same svix-id.
    retry = svix_headers(body, msg_id=first["svix-id"], at=timezone.now() + timedelta(seconds=5))

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        responses = [post(client, body, first), post(client, body, retry)]

    assert [r.status_code for r in responses] == [204, 204]
    assert WebhookDelivery.objects.count() == 1
    assert waiting_code.events.filter(kind=Kind.WEBHOOK).count() == 1
    assert len(callbacks) == 1


def test_a_signature_made_with_a_rotated_secret_is_accepted_alongside_an_old_one(
    client: Client, waiting_code: AccessCode
) -> None:
    body = event_body("access_code.changed", waiting_code.seam_access_code_id)
    headers = svix_headers(body)
    old = svix_headers(body, secret=OTHER_SECRET, msg_id=headers["svix-id"])
    # Svix sends one space-separated entry per active secret while a secret is rotated.
    headers["svix-signature"] = f"{old['svix-signature']} {headers['svix-signature']}"

    assert post(client, body, headers).status_code == 204
    assert WebhookDelivery.objects.count() == 1


def test_a_timestamp_four_minutes_old_is_still_accepted(client: Client) -> None:
    body = event_body("access_code.changed", "unknown")
    response = post(client, body, svix_headers(body, at=timezone.now() - timedelta(minutes=4)))
    assert response.status_code == 204


def test_an_unknown_event_type_is_recorded_and_changes_no_code(
    client: Client, waiting_code: AccessCode, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    body = event_body("device.disconnected", waiting_code.seam_access_code_id)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = post(client, body, svix_headers(body))

    assert response.status_code == 204
    assert WebhookDelivery.objects.get().event_type == "device.disconnected"
    assert callbacks == []
    assert not waiting_code.events.filter(kind=Kind.WEBHOOK).exists()
    before = waiting_code.next_check_at
    waiting_code.refresh_from_db()
    assert waiting_code.status == Status.WAITING
    assert waiting_code.next_check_at == before


def test_an_unknown_access_code_is_recorded_and_ignored(
    client: Client, waiting_code: AccessCode, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    body = event_body("access_code.set_on_device", "5a1c0de0-0000-4000-8000-00000000dead")

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = post(client, body, svix_headers(body))

    assert response.status_code == 204
    assert WebhookDelivery.objects.get().seam_access_code_id == "5a1c0de0-0000-4000-8000-00000000dead"
    assert callbacks == []
    assert not AccessCodeEvent.objects.filter(kind=Kind.WEBHOOK).exists()


def test_a_webhook_for_a_code_already_set_queues_nothing(
    client: Client, waiting_code: AccessCode, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    AccessCode.objects.filter(pk=waiting_code.pk).update(status=Status.SET, code="123456")
    body = event_body("access_code.set_on_device", waiting_code.seam_access_code_id)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = post(client, body, svix_headers(body))

    assert response.status_code == 204
    assert callbacks == []
    assert waiting_code.events.filter(kind=Kind.WEBHOOK).count() == 1


# Refused deliveries: nothing is recorded


def test_a_tampered_body_is_refused(client: Client, waiting_code: AccessCode) -> None:
    body = event_body("access_code.set_on_device", waiting_code.seam_access_code_id)
    headers = svix_headers(body)
    tampered = body.replace("set_on_device", "changed")

    assert post(client, tampered, headers).status_code == 401
    assert_nothing_recorded()


def test_a_signature_made_with_another_secret_is_refused(client: Client, waiting_code: AccessCode) -> None:
    body = event_body("access_code.set_on_device", waiting_code.seam_access_code_id)

    assert post(client, body, svix_headers(body, secret=OTHER_SECRET)).status_code == 401
    assert_nothing_recorded()


def test_a_signature_for_another_message_id_is_refused(client: Client) -> None:
    body = event_body("access_code.changed", "unknown")
    headers = svix_headers(body)
    headers["svix-id"] = "msg_replayed_under_another_id"

    assert post(client, body, headers).status_code == 401
    assert_nothing_recorded()


@pytest.mark.parametrize("age", [timedelta(minutes=10), timedelta(minutes=-10)], ids=["stale", "future"])
def test_a_correctly_signed_timestamp_more_than_five_minutes_off_is_refused(client: Client, age: timedelta) -> None:
    body = event_body("access_code.changed", "unknown")

    assert post(client, body, svix_headers(body, at=timezone.now() - age)).status_code == 401
    assert_nothing_recorded()


@pytest.mark.parametrize("missing", ["svix-id", "svix-timestamp", "svix-signature"])
def test_a_missing_header_is_refused(client: Client, missing: str) -> None:
    body = event_body("access_code.changed", "unknown")
    headers = svix_headers(body)
    del headers[missing]

    assert post(client, body, headers).status_code == 401
    assert_nothing_recorded()


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("svix-signature", "garbage"),
        ("svix-signature", "v1"),
        ("svix-signature", "v1,not base64!"),
        ("svix-signature", "v1,a,b"),
        ("svix-signature", "v2,c2lnbmF0dXJl"),
        ("svix-signature", "v1,c2lnbmF0dXJl"),
        ("svix-timestamp", "yesterday"),
        ("svix-timestamp", "nan"),
        ("svix-timestamp", "1e400"),
    ],
)
def test_a_malformed_header_is_refused_not_an_error(client: Client, header: str, value: str) -> None:
    body = event_body("access_code.changed", "unknown")
    headers = svix_headers(body)
    headers[header] = value

    assert post(client, body, headers).status_code == 401
    assert_nothing_recorded()


@pytest.mark.parametrize("body", ["not json", "{", '["a", "list"]', '"a string"'])
def test_a_signed_body_that_is_not_a_json_object_is_a_bad_request(client: Client, body: str) -> None:
    assert post(client, body, svix_headers(body)).status_code == 400
    assert_nothing_recorded()


def test_a_body_that_is_not_utf8_is_refused(client: Client) -> None:
    headers = svix_headers("{}")

    response = client.post(URL, data=b"\xff\xfe{}", content_type="application/json", headers=headers)

    assert response.status_code == 401
    assert_nothing_recorded()


def test_without_a_secret_webhooks_are_unavailable(client: Client, settings: Any) -> None:
    settings.SEAM_WEBHOOK_SECRET = ""
    body = event_body("access_code.changed", "unknown")

    assert post(client, body, svix_headers(body)).status_code == 503
    assert_nothing_recorded()


def test_a_secret_that_is_not_base64_makes_webhooks_unavailable(client: Client, settings: Any) -> None:
    settings.SEAM_WEBHOOK_SECRET = "whsec_a"
    body = event_body("access_code.changed", "unknown")

    assert post(client, body, svix_headers(body)).status_code == 503
    assert_nothing_recorded()


def test_get_is_not_allowed(client: Client) -> None:
    assert client.get(URL).status_code == 405


# The simulator delivers to a live server


@pytest.mark.django_db(transaction=True)
def test_the_simulator_delivers_a_signed_webhook_that_sets_the_code(
    live_server: Any,
    start_seam_simulator: Callable[..., SimulatorServer],
    settings: Any,
    tmp_path: Path,
) -> None:
    # The code is created at a simulator without webhooks, which then restarts with them:
    # with in-memory SQLite the live server shares the test's connection, so the test must not
    # use the database while the server handles a delivery (the create's own webhook included).
    state = tmp_path / "seam-state.json"
    creator = start_seam_simulator(state_path=state, setting_after=timedelta(0), set_after=timedelta(seconds=1))
    point_settings_at(settings, creator)
    code = request_code(SeamClient(api_key=SIMULATOR_API_KEY, endpoint=creator.url, timeout=5))
    code.refresh_from_db()  # created by the eager create task once the request committed
    assert code.status == Status.WAITING
    creator.stop()

    simulator = start_seam_simulator(state_path=state, webhook_url=live_server.url + URL, webhook_secret=SECRET)
    point_settings_at(settings, simulator)
    # No sweeper runs: only a webhook can set the code. The view answers after the refresh
    # it queues has run, so once the simulator has its 2xx the row is current.
    deadline = time.monotonic() + 10
    while True:
        events = simulator.api.events(simulator.now())
        with simulator.store.lock:
            delivered = {e["event_id"] for e in events} <= simulator.store.delivered_events
        if delivered and any(e["event_type"] == "access_code.set_on_device" for e in events):
            break
        assert time.monotonic() < deadline, "the simulator did not deliver its webhooks within 10 s"
        time.sleep(0.1)

    code.refresh_from_db()
    assert code.status == Status.SET
    assert code.code
    assert set(WebhookDelivery.objects.values_list("event_type", flat=True)) == {
        "access_code.created",
        "access_code.set_on_device",
    }
    assert code.events.filter(kind=Kind.WEBHOOK, message="access_code.set_on_device").exists()


def test_an_overlong_svix_id_is_refused_cleanly(client, settings):
    secret = "whsec_" + base64.b64encode(b"x" * 24).decode()
    settings.SEAM_WEBHOOK_SECRET = secret
    body = json.dumps({"event_type": "access_code.changed", "access_code_id": "a" * 500})
    msg_id = "m" * 150
    now = datetime.now(UTC)
    signature = Webhook(secret).sign(msg_id=msg_id, timestamp=now, data=body)

    response = client.post(
        "/seam/webhook/",
        data=body,
        content_type="application/json",
        headers={"svix-id": msg_id, "svix-timestamp": str(int(now.timestamp())), "svix-signature": signature},
    )

    assert response.status_code == 400
    assert not WebhookDelivery.objects.exists()
