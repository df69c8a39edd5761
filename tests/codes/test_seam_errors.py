"""Seam's real error paths, end to end through our services against the simulator over HTTP.

Seam refuses an Oracode code either with a 400 on the create call or by answering 200 and
putting the error on the code a moment later; either way the code fails at once, with Seam's
error type, and the site's staff are alerted. Seam may also round a code to another user
level than asked: that is recorded on the code, shown and alerted, never silent.
"""

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.test import Client

from codes import alerts
from codes.capacity import capacity, capacity_refusal
from codes.creating import access_code_create
from codes.following import access_codes_refresh_door
from codes.models import AccessCode, AccessCodeEvent, StaffAlert
from locks.models import Lock
from locks.seam import SeamClient
from locks.services import locks_sync
from simulator import demo
from simulator.server import SimulatorServer
from tests.builders import at_once, book, make_staff, run_due
from tests.conftest import skip_or_fail
from tests.fixtures.simulator import SIMULATOR_API_KEY

pytestmark = pytest.mark.django_db

Status = AccessCode.Status
Kind = AccessCodeEvent.Kind
AlertKind = StaffAlert.Kind

START = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
ARRIVAL = date(2030, 7, 1)
ROOM_101 = demo.OCEAN_BEACH_ROOM_101
GUEST = "Guest 15:00-11:00"


@pytest.fixture
def clock() -> Iterator[time_machine.Coordinates]:
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture(autouse=True)
def eager(settings: Any) -> None:
    # Alert emails are Celery tasks queued on commit: run them in place.
    settings.CELERY_TASK_ALWAYS_EAGER = True


def client_for(sim: SimulatorServer) -> SeamClient:
    return SeamClient(api_key=SIMULATOR_API_KEY, endpoint=sim.url, timeout=1.0, sleep=lambda _: None)


@pytest.fixture
def room(seam_simulator: SimulatorServer, clock: Any) -> Lock:
    """Room 101 as synced from Seam, with one member of staff who has an email address."""
    locks_sync(client=client_for(seam_simulator))
    lock = Lock.objects.select_related("site").get(seam_device_id=ROOM_101)
    staff_with_email(lock.site)
    return lock


def staff_with_email(site: Any) -> None:
    staff = make_staff("ana", site)
    staff.email = "frontdesk@example.com"
    staff.save()


def slots_moved_since_sync(lock: Lock) -> None:
    """dormakaba changed the guest level since the last sync: our copy still says 13:00 check-in,
    so the window we offer matches no level at Seam any more."""
    slots = [dict(slot) for slot in lock.time_slots]
    for slot in slots:
        if slot["name"] == GUEST:
            slot["check_in_time"] = "13:00:00[America/Los_Angeles]"
    lock.time_slots = slots
    lock.save()


def create(sim: SimulatorServer, lock: Lock, capture: Callable[..., Any], *, arrival: date = ARRIVAL) -> AccessCode:
    code = book(lock, arrival=arrival)
    with capture(execute=True):
        return access_code_create(access_code_id=code.pk, client=client_for(sim))


def check_when_due(sim: SimulatorServer, clock: Any, code: AccessCode, capture: Callable[..., Any]) -> AccessCode:
    assert code.next_check_at is not None
    clock.move_to(code.next_check_at)
    with capture(execute=True):
        run_due(client_for(sim))
    code.refresh_from_db()
    return code


def assert_failed_and_alerted(code: AccessCode, error_type: str) -> None:
    assert code.status == Status.FAILED
    assert code.last_error_type == error_type
    assert code.last_error_message
    assert code.next_check_at is None
    assert Kind.FAILED in code.events.values_list("kind", flat=True)
    alert = StaffAlert.objects.get(kind=AlertKind.CODE_FAILED)
    assert (alert.access_code_id, alert.lock_id, alert.site_id) == (code.pk, code.lock_id, code.lock.site_id)
    assert error_type in alert.message
    assert alert.emailed_at is not None
    [email] = mail.outbox
    assert email.to == ["frontdesk@example.com"]
    assert "Code failed at Seam" in email.subject
    assert code.reservation.guest_name in email.body
    assert code.events.filter(kind=Kind.ALERTED).exists()


# A window that matches no user level at Seam


def test_a_400_refusal_fails_the_code_at_once_and_alerts_staff(
    seam_simulator, room, django_capture_on_commit_callbacks
):
    slots_moved_since_sync(room)

    code = create(seam_simulator, room, django_capture_on_commit_callbacks)

    assert_failed_and_alerted(code, "dormakaba_oracode_invalid_time_range")
    assert code.seam_access_code_id == ""


def test_an_error_seam_puts_on_the_code_later_fails_it_at_the_next_check(
    seam_simulator, room, clock, django_capture_on_commit_callbacks
):
    seam_simulator.configure_door(ROOM_101, refusals="on_code")
    slots_moved_since_sync(room)

    code = create(seam_simulator, room, django_capture_on_commit_callbacks)
    assert code.status == Status.WAITING, "Seam answered 200"
    assert not StaffAlert.objects.exists()

    code = check_when_due(seam_simulator, clock, code, django_capture_on_commit_callbacks)

    assert_failed_and_alerted(code, "provider_issue")
    assert code.last_error_message.startswith("no time slots found")
    assert code.code == ""
    assert [e["error_code"] for e in code.errors] == ["provider_issue"]
    client = Client()
    client.force_login(make_staff("ben", room.site))
    cell = client.get(f"/codes/{code.pk}/").content.decode()
    assert "then dormakaba refused it" in cell, "plain words for provider_issue"
    assert "Retry code" not in cell, "Seam holds the code: it cannot be retried"
    clock.shift(timedelta(days=1))
    assert run_due(client_for(seam_simulator)) == [], "a failed code is not checked again"


def test_an_error_already_in_the_create_answer_fails_the_code_at_once(
    start_seam_simulator, clock, django_capture_on_commit_callbacks
):
    # dormakaba answers before Seam does: the error is on the code Seam returns.
    sim = start_seam_simulator(mode="quick", setting_after=timedelta(0), refusals="on_code")
    locks_sync(client=client_for(sim))
    room = Lock.objects.select_related("site").get(seam_device_id=ROOM_101)
    staff_with_email(room.site)
    slots_moved_since_sync(room)

    code = create(sim, room, django_capture_on_commit_callbacks)

    assert_failed_and_alerted(code, "provider_issue")
    assert code.seam_access_code_id, "Seam holds the failed code"


def test_errors_read_from_the_doors_list_fail_every_code_they_name(
    seam_simulator, room, clock, django_capture_on_commit_callbacks
):
    seam_simulator.configure_door(ROOM_101, refusals="on_code")
    slots_moved_since_sync(room)
    first = create(seam_simulator, room, django_capture_on_commit_callbacks)
    second = create(seam_simulator, room, django_capture_on_commit_callbacks, arrival=ARRIVAL + timedelta(days=7))
    clock.shift(timedelta(seconds=30))
    requests_before = dict(seam_simulator.requests)

    with django_capture_on_commit_callbacks(execute=True):
        refreshed = access_codes_refresh_door(
            lock_id=room.pk, access_code_ids=[first.pk, second.pk], client=client_for(seam_simulator)
        )

    assert [c.status for c in refreshed] == [Status.FAILED, Status.FAILED]
    assert {c.last_error_type for c in refreshed} == {"provider_issue"}
    assert seam_simulator.requests["/access_codes/list"] == requests_before.get("/access_codes/list", 0) + 1
    assert StaffAlert.objects.filter(kind=AlertKind.CODE_FAILED).count() == 2


# A door with no room for another code


@pytest.mark.parametrize("refusals", ["http_400", "on_code"])
def test_a_door_seam_says_is_full_fails_the_code_at_once_either_way(
    seam_simulator, room, clock, refusals, django_capture_on_commit_callbacks
):
    # Filled by codes made elsewhere since our last sync, so our own count let the booking through.
    seam_simulator.configure_door(ROOM_101, refusals=refusals, max_active_codes_supported=1)
    assert create(seam_simulator, room, django_capture_on_commit_callbacks).status == Status.WAITING
    code = create(seam_simulator, room, django_capture_on_commit_callbacks, arrival=ARRIVAL + timedelta(days=7))

    if refusals == "on_code":
        assert code.status == Status.WAITING
        code = check_when_due(seam_simulator, clock, code, django_capture_on_commit_callbacks)

    assert_failed_and_alerted(code, "no_space_for_access_code_on_device")
    assert bool(code.seam_access_code_id) == (refusals == "on_code")


def test_a_warning_on_the_code_does_not_fail_it(seam_simulator, room, clock, django_capture_on_commit_callbacks):
    code = create(seam_simulator, room, django_capture_on_commit_callbacks)

    code = check_when_due(seam_simulator, clock, code, django_capture_on_commit_callbacks)

    assert code.status == Status.SET
    assert not StaffAlert.objects.exists()
    assert mail.outbox == []


# What Seam made, checked against what was asked


def test_a_code_seam_rounded_to_another_level_is_recorded_shown_and_alerted(
    seam_simulator, room, clock, django_capture_on_commit_callbacks
):
    seam_simulator.configure_door(ROOM_101, round_to_level="Guest 16:00-10:00")

    code = create(seam_simulator, room, django_capture_on_commit_callbacks)

    assert code.status == Status.WAITING, "the code works, at other times"
    assert code.seam_window_mismatch.startswith(
        "Seam made Mon 1 Jul 16:00 → Thu 4 Jul 10:00 (America/Los_Angeles, PDT)"
    )
    assert code.seam_window_mismatch.endswith("on “Guest 16:00-10:00” (different: start, end, user level).")
    [event] = code.events.filter(kind=Kind.WINDOW_MISMATCH)
    assert event.message == (
        f"{code.seam_window_mismatch} Asked for Mon 1 Jul 15:00 → Thu 4 Jul 11:00 (America/Los_Angeles, PDT) "
        f"on “{GUEST}”."
    )
    alert = StaffAlert.objects.get()
    assert (alert.kind, alert.access_code_id) == (AlertKind.WINDOW_MISMATCH, code.pk)
    [email] = mail.outbox
    assert "Seam made another window" in email.subject
    assert code.seam_window_mismatch in email.body

    client = Client()
    client.force_login(make_staff("ben", room.site))
    cell = client.get(f"/codes/{code.pk}/").content.decode()
    assert 'data-testid="window-mismatch"' in cell
    assert "Seam made Mon 1 Jul 16:00" in cell

    # Seam says the same again at the next check: nothing new to record or send.
    code = check_when_due(seam_simulator, clock, code, django_capture_on_commit_callbacks)
    assert code.status == Status.SET
    assert code.events.filter(kind=Kind.WINDOW_MISMATCH).count() == 1
    assert StaffAlert.objects.count() == 1
    assert len(mail.outbox) == 1


def test_a_code_adopted_after_a_timeout_is_checked_too(
    seam_simulator, room, clock, django_capture_on_commit_callbacks
):
    seam_simulator.configure_door(ROOM_101, round_to_level="Guest 16:00-10:00")
    seam_simulator.inject_fault("/access_codes/create", "timeout_after_store", hold_seconds=5)
    code = create(seam_simulator, room, django_capture_on_commit_callbacks)
    assert (code.status, code.create_sent) == (Status.PENDING, True)
    assert not StaffAlert.objects.exists()

    clock.move_to(code.next_check_at)
    with django_capture_on_commit_callbacks(execute=True):
        code = access_code_create(access_code_id=code.pk, client=client_for(seam_simulator))

    assert Kind.ADOPTED in code.events.values_list("kind", flat=True)
    assert "Guest 16:00-10:00" in code.seam_window_mismatch
    assert StaffAlert.objects.get().kind == AlertKind.WINDOW_MISMATCH


def test_a_code_made_as_asked_has_no_mismatch(seam_simulator, room, django_capture_on_commit_callbacks):
    code = create(seam_simulator, room, django_capture_on_commit_callbacks)

    assert code.seam_window_mismatch == ""
    assert not code.events.filter(kind=Kind.WINDOW_MISMATCH).exists()
    client = Client()
    client.force_login(make_staff("ben", room.site))
    assert b"window-mismatch" not in client.get(f"/codes/{code.pk}/").content


# Staff alerts


def test_an_alert_is_raised_and_emailed_once(room, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first = alerts.door_alert(lock=room, kind=AlertKind.DOOR_DISCONNECTED, message="Gone quiet.")
        again = alerts.door_alert(lock=room, kind=AlertKind.DOOR_DISCONNECTED, message="Gone quiet again.")

    assert again.pk == first.pk
    assert StaffAlert.objects.count() == 1
    assert len(mail.outbox) == 1
    assert mail.outbox[0].subject == "[Alert] Ocean Beach Vacations – Room 101: Door disconnected"
    assert alerts.staff_alert_email(alert_id=first.pk).emailed_at is not None
    assert len(mail.outbox) == 1, "delivered twice, emailed once"


def test_a_resolved_problem_that_comes_back_alerts_again(room, django_capture_on_commit_callbacks):
    from django.db.models import Q

    with django_capture_on_commit_callbacks(execute=True):
        first = alerts.door_alert(lock=room, kind=AlertKind.DOOR_DISCONNECTED, message="Gone quiet.")
    with django_capture_on_commit_callbacks(execute=True):
        assert alerts.staff_alerts_resolve(keys=Q(key=first.key)) == 1
        second = alerts.door_alert(lock=room, kind=AlertKind.DOOR_DISCONNECTED, message="Gone quiet again.")

    assert second.pk != first.pk
    assert len(mail.outbox) == 2


def test_an_smtp_failure_is_recorded_on_the_alert_not_raised(room, settings, django_capture_on_commit_callbacks):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2  # nothing listens

    with django_capture_on_commit_callbacks(execute=True):
        alert = alerts.door_alert(lock=room, kind=AlertKind.DOOR_REMOVED, message="Removed.")

    alert.refresh_from_db()
    assert alert.emailed_at is None
    assert alert.email_error.startswith("Could not email staff:")


def test_with_nobody_to_email_the_alert_says_so(seam_simulator, clock, django_capture_on_commit_callbacks):
    locks_sync(client=client_for(seam_simulator))
    lock = Lock.objects.select_related("site").get(seam_device_id=ROOM_101)
    make_staff("no-address", lock.site)

    with django_capture_on_commit_callbacks(execute=True):
        alert = alerts.door_alert(lock=lock, kind=AlertKind.DOOR_REMOVED, message="Removed.")

    alert.refresh_from_db()
    assert alert.email_error == "No staff of Ocean Beach Vacations has an email address to notify."
    assert mail.outbox == []


@pytest.mark.django_db(transaction=True)
def test_two_workers_raising_one_alert_at_once_make_one(seam_simulator, clock):
    # SQLite serialises every write, so a race there proves nothing; CI runs this on PostgreSQL.
    if connection.vendor != "postgresql":
        skip_or_fail("racing workers need PostgreSQL (set DATABASE_URL)")
    locks_sync(client=client_for(seam_simulator))
    lock = Lock.objects.select_related("site").get(seam_device_id=ROOM_101)
    staff_with_email(lock.site)
    raised = at_once(lambda: alerts.door_alert(lock=lock, kind=AlertKind.DOOR_REMOVED, message="Removed.").pk)

    assert len(set(raised)) == 1
    assert StaffAlert.objects.count() == 1
    assert len(mail.outbox) == 1


def test_the_dashboard_shows_open_alerts_to_the_sites_staff_only(
    seam_simulator, room, clock, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        alerts.door_alert(lock=room, kind=AlertKind.DOOR_DISCONNECTED, message="Seam reports Room 101 disconnected.")
        resolved = alerts.door_alert(lock=room, kind=AlertKind.DOOR_REMOVED, message="Removed, then back.")
    StaffAlert.objects.filter(pk=resolved.pk).update(resolved_at=START)
    harbour = Lock.objects.get(seam_device_id=demo.HARBOUR_VIEW_APARTMENT_1A)
    client = Client()

    client.force_login(make_staff("ocean", room.site))
    page = client.get("/").content.decode()
    assert page.count('data-testid="staff-alert"') == 1
    assert "Seam reports Room 101 disconnected." in page
    assert "Removed, then back." not in page

    client.force_login(make_staff("harbour", harbour.site))
    assert 'data-testid="staff-alert"' not in client.get("/").content.decode()


# The door's room, from Seam and from staff


def test_capacity_takes_the_smaller_of_staffs_limit_and_seams(room):
    room.seam_max_active_codes = 3
    assert (capacity(room, live=1).limit, capacity(room, live=3).level) == (3, "full")
    assert "Seam's maximum" in capacity(room, live=3).message
    room.code_capacity = 2
    assert capacity(room, live=2).limit == 2
    assert capacity(room, live=2).message == "2 live codes of 2: the door is full until one of its codes ends."
    room.code_capacity = 50
    assert capacity(room, live=1).limit == 3
    room.seam_max_active_codes = None
    assert capacity(room, live=1).limit == 50
    room.code_capacity = None
    assert capacity(room, live=1) == capacity(room, live=1).__class__(1, None, "ok", "")


def test_seams_full_door_warning_gives_its_counts(room):
    room.warnings = [
        {
            "warning_code": "max_access_codes_reached",
            "message": "Too many codes",
            "active_access_code_count": 30,
            "max_active_access_code_count": 30,
        }
    ]

    state = capacity(room, live=4)

    assert state.level == "full"
    assert "Seam reports this door is full with 30 active codes of 30 (max_access_codes_reached)" in state.message
    assert "max_access_codes_reached" in capacity_refusal(room, needed=1)


def test_a_door_synced_full_from_seam_refuses_bookings(
    seam_simulator, room, clock, django_capture_on_commit_callbacks
):
    seam_simulator.configure_door(ROOM_101, max_active_codes_supported=1)
    create(seam_simulator, room, django_capture_on_commit_callbacks)
    locks_sync(client=client_for(seam_simulator))
    room.refresh_from_db()

    assert room.seam_max_active_codes == 1
    refusal = capacity_refusal(room, needed=1)
    assert "Seam reports this door is full with 1 active codes of 1" in refusal
