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
from django.core import mail
from django.test import Client
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from codes.creating import access_code_create, access_code_request
from codes.models import AccessCode, AccessCodeEvent, StaffAlert, WebhookDelivery
from codes.windows import offer_windows
from locks.models import Lock
from locks.seam import SeamClient
from locks.services import locks_sync
from properties.models import Reservation
from simulator import demo
from simulator.server import SimulatorServer
from tests.builders import make_reservation, make_staff
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


def request_code(client: SeamClient, *, sync: bool = True) -> AccessCode:
    """A reservation in Room 101 a month ahead and its pending code; the doors come from Seam."""
    if sync:
        locks_sync(client=client)
    door = Lock.objects.get(seam_device_id=demo.OCEAN_BEACH_ROOM_101)
    arrival = timezone.localdate() + timedelta(days=30)
    reservation = make_reservation(door, arrival=arrival)
    windows = offer_windows(door.time_slots, arrival=arrival, departure=reservation.departure, now=timezone.now())
    window = next(w for w in windows if w.slot_name == SLOT)
    return access_code_request(reservation=reservation, lock=door, window=window)


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
    body = event_body("lock.unlocked", waiting_code.seam_access_code_id)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = post(client, body, svix_headers(body))

    assert response.status_code == 204
    assert WebhookDelivery.objects.get().event_type == "lock.unlocked"
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


# PINs: Seam's set_on_device, scheduled_on_device and deleted events carry the PIN in ``code``


PIN = "482913"


def test_a_pin_in_a_webhook_is_never_stored_nor_shown_in_the_admin(
    client: Client,
    waiting_code: AccessCode,
    seam_simulator: SimulatorServer,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    seam_simulator.advance_clock(timedelta(seconds=30))
    body = event_body("access_code.set_on_device", waiting_code.seam_access_code_id, code=PIN)

    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, body, svix_headers(body)).status_code == 204

    delivery = WebhookDelivery.objects.get()
    assert delivery.payload["code"] == "[redacted]"
    assert PIN not in json.dumps(delivery.payload)
    assert {k: v for k, v in delivery.payload.items() if k != "code"} == {
        k: v for k, v in json.loads(body).items() if k != "code"
    }
    # The row's own PIN still comes from Seam's answer to the refresh, as before.
    waiting_code.refresh_from_db()
    assert waiting_code.status == Status.SET
    assert waiting_code.code
    client.force_login(make_staff("root", superuser=True))
    page = client.get(f"/admin/codes/webhookdelivery/{delivery.pk}/change/")
    assert page.status_code == 200
    assert PIN.encode() not in page.content
    assert b"Webhook deliveries" in client.get("/admin/").content


@pytest.mark.parametrize(
    ("event_type", "extra"),
    [
        ("access_code.scheduled_on_device", {"code": PIN}),
        ("access_code.deleted", {"code": PIN}),
        ("access_code.code_changed", {"from": {"code": "111111"}, "to": {"code": PIN}, "description": "PIN rotated"}),
        ("access_code.changed", {"changed_properties": [{"property": "code", "from": "111111", "to": PIN}]}),
        ("access_code.changed", {"errors": [{"modified_fields": [{"field": "code", "from": None, "to": PIN}]}]}),
        ("lock.unlocked", {"deep": [{"a": {"b": [{"code": PIN}]}}]}),
    ],
)
def test_every_pin_at_any_depth_is_redacted_before_it_is_stored(
    client: Client, event_type: str, extra: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    body = event_body(event_type, "unknown", **extra)

    with caplog.at_level("DEBUG"):
        assert post(client, body, svix_headers(body)).status_code == 204

    stored = json.dumps(WebhookDelivery.objects.get().payload)
    assert PIN not in stored
    assert "111111" not in stored
    assert "[redacted]" in stored
    assert PIN not in caplog.text


def test_a_null_pin_stays_null(client: Client) -> None:
    body = event_body("access_code.deleted", "unknown", code=None)

    assert post(client, body, svix_headers(body)).status_code == 204
    assert WebhookDelivery.objects.get().payload["code"] is None


def test_the_data_migration_redacts_payloads_stored_before(django_db_blocker: Any) -> None:
    import importlib

    from django.apps import apps

    migration = importlib.import_module("codes.migrations.0006_staff_alerts_and_pin_redaction")
    kept = {"event_type": "access_code.created", "access_code_id": "a"}
    with_pin = WebhookDelivery.objects.create(
        svix_id="msg_old_1",
        event_type="access_code.set_on_device",
        payload={"event_type": "access_code.set_on_device", "code": PIN, "nested": {"to": {"code": PIN}}},
    )
    without = WebhookDelivery.objects.create(svix_id="msg_old_2", event_type="access_code.created", payload=kept)

    migration.redact_stored_pins(apps, None)

    with_pin.refresh_from_db()
    without.refresh_from_db()
    assert with_pin.payload == {
        "event_type": "access_code.set_on_device",
        "code": "[redacted]",
        "nested": {"to": {"code": "[redacted]"}},
    }
    assert without.payload == kept


# Bodies that used to crash the view or the database


def test_a_signed_body_nested_deeper_than_json_can_parse_is_a_bad_request(client: Client) -> None:
    body = '{"event_type": "access_code.changed", "x": ' + "[" * 100_000 + "]" * 100_000 + "}"

    assert post(client, body, svix_headers(body)).status_code == 400
    assert_nothing_recorded()


def test_a_signed_body_nested_deeper_than_any_seam_event_is_a_bad_request(client: Client) -> None:
    body = '{"event_type": "access_code.changed", "x": ' + "[" * 500 + "]" * 500 + "}"

    assert post(client, body, svix_headers(body)).status_code == 400
    assert_nothing_recorded()


@pytest.mark.parametrize(
    "bad",
    ["\u0000", chr(0xD800), chr(0xDFFF), f"a\u0000b{chr(0xD800)}c"],
    ids=["nul", "high-surrogate", "low-surrogate", "mixed"],
)
def test_nul_and_lone_surrogates_are_cleaned_in_values_and_keys(client: Client, bad: str) -> None:
    # json.dumps writes them as \u escapes: valid JSON that PostgreSQL's jsonb refuses.
    body = json.dumps(
        {
            "event_id": str(uuid.uuid4()),
            "event_type": f"access_code.changed{bad}",
            "access_code_id": f"id{bad}",
            "device_id": f"dev{bad}",
            "note": f"x{bad}y",
            f"key{bad}": [f"v{bad}", {f"k{bad}": bad}],
        }
    )
    expected = bad.replace("\u0000", "").replace(chr(0xD800), "\ufffd").replace(chr(0xDFFF), "\ufffd")

    assert post(client, body, svix_headers(body)).status_code == 204

    delivery = WebhookDelivery.objects.get()
    assert delivery.event_type == f"access_code.changed{expected}"
    assert delivery.seam_access_code_id == f"id{expected}"
    assert delivery.payload["note"] == f"x{expected}y"
    assert delivery.payload[f"key{expected}"] == [f"v{expected}", {f"k{expected}": expected}]


def test_a_valid_surrogate_pair_is_kept(client: Client) -> None:
    body = json.dumps({"event_type": "access_code.changed", "note": "\U0001f511 key"})

    assert post(client, body, svix_headers(body)).status_code == 204
    assert WebhookDelivery.objects.get().payload["note"] == "\U0001f511 key"


# Header names: Svix's branded svix-* and its unbranded webhook-*


@pytest.mark.parametrize("prefix", ["svix", "webhook"])
def test_signatures_are_read_from_either_set_of_headers(
    client: Client,
    waiting_code: AccessCode,
    prefix: str,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    body = event_body("access_code.changed", waiting_code.seam_access_code_id)
    headers = {name.replace("svix-", f"{prefix}-"): value for name, value in svix_headers(body).items()}

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = post(client, body, headers)

    assert response.status_code == 204
    delivery = WebhookDelivery.objects.get()
    assert delivery.svix_id == headers[f"{prefix}-id"]
    assert len(callbacks) == 1


def test_unbranded_headers_are_checked_as_strictly(client: Client) -> None:
    body = event_body("access_code.changed", "unknown")
    signed = svix_headers(body, secret=OTHER_SECRET)
    headers = {name.replace("svix-", "webhook-"): value for name, value in signed.items()}

    assert post(client, body, headers).status_code == 401
    assert_nothing_recorded()


# Errors on a code, and alerts: a code gone from its lock, a door or account disconnected


def staff_with_email(site: Any) -> None:
    staff = make_staff("frontdesk", site)
    staff.email = "frontdesk@example.com"
    staff.save()


def failure_errors(error_code: str = "provider_issue") -> list[dict[str, str]]:
    return [{"created_at": "2030-06-01T12:00:02.000Z", "message": "no time slots found", "error_code": error_code}]


def test_a_failed_to_set_webhook_with_its_errors_fails_the_code_at_once(
    client: Client,
    waiting_code: AccessCode,
    seam_simulator: SimulatorServer,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    staff_with_email(waiting_code.reservation.site)
    body = event_body(
        "access_code.failed_to_set_on_device",
        waiting_code.seam_access_code_id,
        access_code_errors=failure_errors(),
        access_code_warnings=[],
        device_errors=[],
        device_warnings=[],
        connected_account_errors=[],
        connected_account_warnings=[],
    )
    requests_before = seam_simulator.requests

    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, body, svix_headers(body)).status_code == 204

    waiting_code.refresh_from_db()
    assert waiting_code.status == Status.FAILED
    assert waiting_code.last_error_type == "provider_issue"
    assert waiting_code.last_error_message == "no time slots found"
    assert waiting_code.errors == failure_errors()
    assert waiting_code.next_check_at is None
    assert list(waiting_code.events.values_list("kind", flat=True))[-3:] == [Kind.WEBHOOK, Kind.FAILED, Kind.ALERTED]
    assert seam_simulator.requests == requests_before, "failed from the payload, no call to Seam"
    alert = StaffAlert.objects.get()
    assert (alert.kind, alert.access_code_id) == ("code_failed", waiting_code.pk)
    [email] = mail.outbox
    assert email.to == ["frontdesk@example.com"]


def test_a_failed_to_set_webhook_without_errors_asks_seam(
    client: Client, waiting_code: AccessCode, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    body = event_body("access_code.failed_to_set_on_device", waiting_code.seam_access_code_id)

    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, body, svix_headers(body)).status_code == 204

    waiting_code.refresh_from_db()
    assert waiting_code.checks == 1  # it asked Seam, which (the simulator) has no error on the code
    assert waiting_code.status == Status.WAITING
    assert not StaffAlert.objects.exists()


@pytest.mark.parametrize("event_type", ["access_code.removed_from_device", "access_code.deleted"])
def test_a_guests_code_gone_from_its_lock_alerts_staff(
    client: Client,
    waiting_code: AccessCode,
    event_type: str,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    staff_with_email(waiting_code.reservation.site)
    body = event_body(event_type, waiting_code.seam_access_code_id, code=PIN)

    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, body, svix_headers(body)).status_code == 204
        assert post(client, body, svix_headers(body)).status_code == 204  # Seam sends it again

    alert = StaffAlert.objects.get()
    assert (alert.kind, alert.access_code_id, alert.lock_id) == ("code_removed", waiting_code.pk, waiting_code.lock_id)
    assert event_type in alert.message
    assert PIN not in alert.message
    [email] = mail.outbox
    assert PIN not in email.body
    assert waiting_code.events.filter(kind=Kind.WEBHOOK, message=event_type).count() == 2


def test_a_code_gone_after_its_stay_was_cancelled_alerts_nobody(
    client: Client, waiting_code: AccessCode, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    Reservation.objects.filter(pk=waiting_code.reservation_id).update(cancelled_at=timezone.now())
    body = event_body("access_code.removed_from_device", waiting_code.seam_access_code_id)

    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, body, svix_headers(body)).status_code == 204

    assert not StaffAlert.objects.exists()
    assert waiting_code.events.filter(kind=Kind.WEBHOOK).count() == 1


def door_event(event_type: str, device_id: str = demo.OCEAN_BEACH_ROOM_101, **extra: Any) -> str:
    return json.dumps(
        {
            "event_id": str(uuid.uuid4()),
            "event_type": event_type,
            "device_id": device_id,
            "connected_account_id": demo.CONNECTED_ACCOUNT_ID,
            "workspace_id": demo.WORKSPACE_ID,
            "occurred_at": timezone.now().isoformat(),
            **extra,
        }
    )


def test_a_disconnected_door_alerts_once_until_it_is_connected_again(
    client: Client, waiting_code: AccessCode, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    staff_with_email(waiting_code.reservation.site)
    gone = door_event("device.disconnected", error_code="device_disconnected")
    back = door_event("device.connected")

    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, gone, svix_headers(gone)).status_code == 204
        again = door_event("device.disconnected")
        assert post(client, again, svix_headers(again)).status_code == 204
    assert len(mail.outbox) == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, back, svix_headers(back)).status_code == 204

    alert = StaffAlert.objects.get()
    assert (alert.kind, alert.lock_id, alert.access_code_id) == ("door_disconnected", waiting_code.lock_id, None)
    assert "Room 101" in alert.message
    assert "device_disconnected" in alert.message
    assert alert.resolved_at is not None
    assert alert.resolution == "Resolved: Seam reports Room 101 connected again."
    assert [m.subject for m in mail.outbox] == [
        "[Alert] Ocean Beach Vacations – Room 101: Door disconnected",
        "[Resolved] Ocean Beach Vacations – Room 101: Door disconnected",
    ]


@pytest.mark.parametrize("event_type", ["device.removed", "device.deleted"])
def test_a_removed_door_alerts_staff(client: Client, waiting_code: AccessCode, event_type: str) -> None:
    body = door_event(event_type)

    assert post(client, body, svix_headers(body)).status_code == 204

    alert = StaffAlert.objects.get()
    assert (alert.kind, alert.lock_id) == ("door_removed", waiting_code.lock_id)


def test_a_door_event_for_a_door_we_do_not_have_changes_nothing(client: Client, waiting_code: AccessCode) -> None:
    body = door_event("device.disconnected", device_id=demo.AUGUST_OFFICE_DOOR)

    assert post(client, body, svix_headers(body)).status_code == 204
    assert not StaffAlert.objects.exists()


def account_event(event_type: str, **extra: Any) -> str:
    return json.dumps(
        {
            "event_id": str(uuid.uuid4()),
            "event_type": event_type,
            "connected_account_id": demo.CONNECTED_ACCOUNT_ID,
            "workspace_id": demo.WORKSPACE_ID,
            "occurred_at": timezone.now().isoformat(),
            **extra,
        }
    )


def test_a_disconnected_account_alerts_every_site_with_doors_on_it(client: Client, waiting_code: AccessCode) -> None:
    body = account_event("connected_account.disconnected", connected_account_errors=[], connected_account_warnings=[])

    assert post(client, body, svix_headers(body)).status_code == 204

    alerts = StaffAlert.objects.all()
    sites = set(Lock.objects.exclude(seam_connected_account_id="").values_list("site_id", flat=True))
    assert {a.site_id for a in alerts} == sites
    assert len(sites) == 5
    assert {a.kind for a in alerts} == {"account_disconnected"}

    back = account_event("connected_account.connected")
    assert post(client, back, svix_headers(back)).status_code == 204
    assert not StaffAlert.objects.filter(resolved_at__isnull=True).exists()


def test_dormakaba_sites_disconnected_on_any_event_alerts_the_accounts_sites(
    client: Client, waiting_code: AccessCode
) -> None:
    error = {
        "created_at": "2030-06-01T12:00:00.000Z",
        "message": "One or more dormakaba sites could not be connected.",
        "error_code": "dormakaba_sites_disconnected",
    }
    body = event_body(
        "access_code.delay_in_setting_on_device",
        waiting_code.seam_access_code_id,
        connected_account_id=demo.CONNECTED_ACCOUNT_ID,
        connected_account_errors=[error],
    )

    assert post(client, body, svix_headers(body)).status_code == 204

    alert = StaffAlert.objects.get(site=waiting_code.reservation.site)
    assert alert.kind == "account_disconnected"
    assert "dormakaba_sites_disconnected" in alert.message
    assert StaffAlert.objects.count() == 5


def test_an_account_event_without_that_error_alerts_nobody(client: Client, waiting_code: AccessCode) -> None:
    body = account_event("connected_account.completed_first_sync", connected_account_errors=[])

    assert post(client, body, svix_headers(body)).status_code == 204
    assert not StaffAlert.objects.exists()


# The simulator sends these over HTTP to a live server


def wait_for_delivery(simulator: SimulatorServer, *event_types: str) -> None:
    """Until the simulator has delivered every event it has, these types among them (10 s at most).

    Only the simulator is read meanwhile: with in-memory SQLite the live server shares the
    test's connection, so the test must not use the database while the server works.
    """
    deadline = time.monotonic() + 10
    while True:
        events = simulator.api.events(simulator.now())
        with simulator.store.lock:
            delivered = {e["event_id"] for e in events} <= simulator.store.delivered_events
        if delivered and set(event_types) <= {e["event_type"] for e in events}:
            return
        assert time.monotonic() < deadline, f"the simulator did not deliver {event_types} within 10 s"
        time.sleep(0.1)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("refusal", "error_type", "message"),
    [
        ("no_matching_level", "provider_issue", "no time slots found"),
        ("full_door", "no_space_for_access_code_on_device", "the door holds 0 active access codes"),
    ],
)
def test_a_door_that_refuses_on_the_code_fails_it_by_webhook_at_once(
    live_server: Any,
    start_seam_simulator: Callable[..., SimulatorServer],
    settings: Any,
    tmp_path: Path,
    refusal: str,
    error_type: str,
    message: str,
) -> None:
    state = tmp_path / "seam-state.json"
    creator = start_seam_simulator(state_path=state, setting_after=timedelta(seconds=1), refusals="on_code")
    client = point_settings_at(settings, creator)
    locks_sync(client=client)
    door = Lock.objects.select_related("site").get(seam_device_id=demo.OCEAN_BEACH_ROOM_101)
    staff_with_email(door.site)
    if refusal == "no_matching_level":
        # dormakaba changed the level since our sync: the window we offer matches none at Seam.
        door.time_slots = [
            {**slot, "check_in_time": "13:00:00[America/Los_Angeles]"} if slot["name"] == SLOT else slot
            for slot in door.time_slots
        ]
        door.save()
    else:
        # Filled by codes made elsewhere: as far as Seam is concerned, the door has no room.
        creator.configure_door(demo.OCEAN_BEACH_ROOM_101, max_active_codes_supported=0)
    code = request_code(client, sync=False)
    code.refresh_from_db()
    assert code.status == Status.WAITING, "Seam answered 200"
    creator.stop()

    simulator = start_seam_simulator(state_path=state, webhook_url=live_server.url + URL, webhook_secret=SECRET)
    point_settings_at(settings, simulator)
    wait_for_delivery(simulator, "access_code.failed_to_set_on_device")

    code.refresh_from_db()
    assert code.status == Status.FAILED
    assert code.last_error_type == error_type
    assert code.last_error_message.startswith(message)
    assert StaffAlert.objects.get().kind == "code_failed"
    assert [m.to for m in mail.outbox] == [["frontdesk@example.com"]]


@pytest.mark.django_db(transaction=True)
def test_the_simulator_tells_of_a_door_disconnected_and_a_code_removed(
    live_server: Any,
    start_seam_simulator: Callable[..., SimulatorServer],
    settings: Any,
    tmp_path: Path,
) -> None:
    state = tmp_path / "seam-state.json"
    creator = start_seam_simulator(state_path=state)
    code = request_code(point_settings_at(settings, creator))
    code.refresh_from_db()
    staff_with_email(code.reservation.site)
    creator.stop()

    simulator = start_seam_simulator(state_path=state, webhook_url=live_server.url + URL, webhook_secret=SECRET)
    point_settings_at(settings, simulator)
    simulator.emit_event("device.disconnected", device_id=demo.OCEAN_BEACH_ROOM_101)
    simulator.emit_event("access_code.removed_from_device", access_code_id=code.seam_access_code_id)
    wait_for_delivery(simulator, "device.disconnected", "access_code.removed_from_device")

    alerts = {a.kind: a for a in StaffAlert.objects.all()}
    assert set(alerts) == {"door_disconnected", "code_removed"}
    assert alerts["door_disconnected"].lock_id == code.lock_id
    assert alerts["code_removed"].access_code_id == code.pk
    assert len(mail.outbox) == 2

    simulator.emit_event("device.connected", device_id=demo.OCEAN_BEACH_ROOM_101)
    wait_for_delivery(simulator, "device.connected")
    assert StaffAlert.objects.get(kind="door_disconnected").resolved_at is not None
