"""Codes not set in time: staff are warned by time to arrival, once per level.

Check-in is Tue 10 Sep 2030 15:00 in Los Angeles (PDT, 22:00 UTC) unless a test says otherwise;
"now" is given relative to it. Each level is a staff alert whose email is a task queued after
commit: the tests run those tasks in place when the sweep's work commits.
"""

import smtplib
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User
from django.core.mail import EmailMessage
from django.test import TestCase

from codes import alerts, sweeping
from codes.creating import access_code_request
from codes.models import AccessCode, AccessCodeEvent
from codes.tasks import access_codes_sweep_task
from codes.windows import offer_windows
from properties.models import Reservation, Site
from tests.builders import LA_SLOTS, make_lock, make_reservation, make_site, make_staff

pytestmark = pytest.mark.django_db

Status = AccessCode.Status
Escalation = AccessCode.Escalation
Kind = AccessCodeEvent.Kind

ARRIVAL = date(2030, 9, 10)
LONG_AGO = datetime(2030, 1, 1, tzinfo=UTC)
SYDNEY_SLOTS = [
    {
        **LA_SLOTS[0],
        "name": "Guest 14:00-10:00",
        "check_in_time": "14:00:00[Australia/Sydney]",
        "check_out_time": "10:00:00[Australia/Sydney]",
    }
]


@pytest.fixture(autouse=True)
def fast_passwords(settings: Any) -> None:
    # make_staff sets a password; the default hasher would spend seconds per test on it.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # The alerts' emails are tasks queued on commit: never reach a broker, run them in place.
    settings.CELERY_TASK_ALWAYS_EAGER = True


def access_codes_escalate(*, now: datetime) -> list[AccessCode]:
    """The sweep's escalation, its work committed (the beat runs it outside a transaction)."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return sweeping.access_codes_escalate(now=now)


def requested_code(site: Site, *, door: str = "Room 101", guest: str = "Ana Souza", **fields: Any) -> AccessCode:
    """A requested code for a three-night stay from ARRIVAL, then moved to ``fields`` (default waiting)."""
    lock = make_lock(site, name=door, time_slots=SYDNEY_SLOTS if site.timezone == "Australia/Sydney" else LA_SLOTS)
    reservation = make_reservation(lock, arrival=ARRIVAL, guest_name=guest)
    (window,) = offer_windows(lock.time_slots, arrival=ARRIVAL, departure=reservation.departure, now=LONG_AGO)
    code = access_code_request(reservation=reservation, lock=lock, window=window)
    AccessCode.objects.filter(pk=code.pk).update(**{"status": Status.WAITING, **fields})
    code.refresh_from_db()
    return code


def staff_with_email(username: str, *sites: Site, **fields: Any) -> User:
    user = make_staff(username, *sites)
    User.objects.filter(pk=user.pk).update(email=f"{username}@example.com", **fields)
    return user


@pytest.fixture
def ocean() -> Site:
    site = make_site("Ocean Beach Vacations")
    staff_with_email("maria", site)
    staff_with_email("joao", site)
    make_staff("no_email", site)
    staff_with_email("left_the_company", site, is_active=False)
    return site


@pytest.fixture
def harbour() -> Site:
    site = make_site("Harbour View", tz="Australia/Sydney")
    staff_with_email("harbour_staff", site)
    return site


@pytest.fixture
def code(ocean: Site) -> AccessCode:
    return requested_code(ocean)


def before_check_in(code: AccessCode, **delta: float) -> datetime:
    return code.starts_at - timedelta(**delta)


def escalated_events(code: AccessCode) -> list[str]:
    return list(code.events.filter(kind=Kind.ESCALATED).values_list("message", flat=True))


def test_the_check_in_instant_is_what_the_tests_assume(code: AccessCode) -> None:
    assert code.starts_at == datetime(2030, 9, 10, 22, 0, tzinfo=UTC)


def test_a_code_still_waiting_23_hours_before_check_in_warns_the_sites_staff(
    code: AccessCode, mailoutbox: list[EmailMessage]
) -> None:
    escalated = access_codes_escalate(now=before_check_in(code, hours=23))

    assert [c.pk for c in escalated] == [code.pk]
    (message,) = mailoutbox
    assert sorted(message.to) == ["joao@example.com", "maria@example.com"]
    assert message.subject == "[Warning] Code for Ana Souza not set"
    assert "Ana Souza" in message.body
    assert "Ocean Beach Vacations, Room 101" in message.body
    assert "Check-in: Tue 10 Sep 15:00 (America/Los_Angeles, PDT)" in message.body
    assert "waiting for the lock system" in message.body
    code.refresh_from_db()
    assert code.escalation == Escalation.WARNING


def test_the_warning_is_sent_once(code: AccessCode, mailoutbox: list[EmailMessage]) -> None:
    access_codes_escalate(now=before_check_in(code, hours=23))
    again = access_codes_escalate(now=before_check_in(code, hours=22))
    once_more = access_codes_escalate(now=before_check_in(code, hours=3))

    assert again == once_more == []
    assert len(mailoutbox) == 1


def test_nothing_is_sent_before_the_warning_threshold(code: AccessCode, mailoutbox: list[EmailMessage]) -> None:
    assert access_codes_escalate(now=before_check_in(code, hours=24, minutes=1)) == []
    assert access_codes_escalate(now=before_check_in(code, hours=24)) == [code]
    assert len(mailoutbox) == 1


def test_at_an_hour_and_a_half_the_warning_becomes_urgent_once(
    code: AccessCode, mailoutbox: list[EmailMessage]
) -> None:
    access_codes_escalate(now=before_check_in(code, hours=23))
    urgent = access_codes_escalate(now=before_check_in(code, hours=1.5))
    again = access_codes_escalate(now=before_check_in(code, hours=1))

    assert urgent == [code]
    assert again == []
    assert [m.subject for m in mailoutbox] == [
        "[Warning] Code for Ana Souza not set",
        "[URGENT] Code for Ana Souza not set",
    ]
    assert sorted(mailoutbox[1].to) == ["joao@example.com", "maria@example.com"]
    code.refresh_from_db()
    assert code.escalation == Escalation.URGENT


def test_a_code_first_seen_late_gets_the_urgent_email_only(code: AccessCode, mailoutbox: list[EmailMessage]) -> None:
    access_codes_escalate(now=before_check_in(code, hours=1.5))
    access_codes_escalate(now=before_check_in(code, hours=1))

    assert [m.subject for m in mailoutbox] == ["[URGENT] Code for Ana Souza not set"]


def test_the_event_history_records_each_escalation(code: AccessCode) -> None:
    access_codes_escalate(now=before_check_in(code, hours=23))
    access_codes_escalate(now=before_check_in(code, hours=1.5))

    assert escalated_events(code) == [
        "warning: staff emailed (2 recipient(s))",
        "urgent: staff emailed (2 recipient(s))",
    ]


def test_a_set_code_is_never_escalated(ocean: Site, mailoutbox: list[EmailMessage]) -> None:
    code = requested_code(ocean, status=Status.SET, code="123456")

    assert access_codes_escalate(now=before_check_in(code, hours=23)) == []
    assert access_codes_escalate(now=before_check_in(code, hours=1.5)) == []
    assert mailoutbox == []
    assert escalated_events(code) == []


def test_codes_of_a_cancelled_stay_or_superseded_by_a_date_change_are_not_escalated(
    ocean: Site, mailoutbox: list[EmailMessage]
) -> None:
    cancelled = requested_code(ocean, status=Status.WAITING)
    Reservation.objects.filter(pk=cancelled.reservation_id).update(cancelled_at=datetime(2030, 1, 1, tzinfo=UTC))
    superseded = requested_code(ocean, door="Room 102", status=Status.WAITING)
    AccessCode.objects.filter(pk=superseded.pk).update(superseded_at=datetime(2030, 1, 1, tzinfo=UTC))

    assert access_codes_escalate(now=before_check_in(cancelled, hours=1.5)) == []
    assert mailoutbox == []


def test_a_code_seam_defers_on_purpose_is_escalated_only_once_its_scheduled_time_is_past(
    ocean: Site, mailoutbox: list[EmailMessage]
) -> None:
    # Seam programs offline codes about an hour before they start, and says so.
    code = requested_code(ocean, status=Status.WAITING)
    scheduled_at = code.starts_at - timedelta(hours=1)
    deferral = {"mutation_code": "deferring_creation", "scheduled_at": scheduled_at.isoformat()}
    AccessCode.objects.filter(pk=code.pk).update(pending_mutations=[deferral])

    assert access_codes_escalate(now=before_check_in(code, hours=23)) == []
    assert access_codes_escalate(now=before_check_in(code, hours=1.5)) == []
    assert access_codes_escalate(now=scheduled_at + timedelta(minutes=10)) == [], "within the grace"
    assert mailoutbox == []

    assert access_codes_escalate(now=scheduled_at + timedelta(minutes=20)) == [code]
    assert [m.subject for m in mailoutbox] == ["[URGENT] Code for Ana Souza not set"]


def test_a_code_whose_window_has_ended_is_not_escalated(code: AccessCode, mailoutbox: list[EmailMessage]) -> None:
    assert access_codes_escalate(now=code.ends_at + timedelta(minutes=1)) == []
    assert access_codes_escalate(now=code.ends_at) == []
    assert mailoutbox == []


def test_a_guest_already_in_the_stay_without_a_set_code_is_urgent(
    code: AccessCode, mailoutbox: list[EmailMessage]
) -> None:
    assert access_codes_escalate(now=code.starts_at + timedelta(hours=5)) == [code]
    assert [m.subject for m in mailoutbox] == ["[URGENT] Code for Ana Souza not set"]


@pytest.mark.parametrize("status", [Status.PENDING, Status.CREATING])
def test_a_code_never_created_at_seam_is_escalated_too(
    ocean: Site, mailoutbox: list[EmailMessage], status: str
) -> None:
    code = requested_code(ocean, status=status)

    assert access_codes_escalate(now=before_check_in(code, hours=23)) == [code]
    assert len(mailoutbox) == 1


def test_a_failed_code_is_escalated_with_seams_error(ocean: Site, mailoutbox: list[EmailMessage]) -> None:
    code = requested_code(
        ocean,
        status=Status.FAILED,
        last_error_type="dormakaba_oracode_invalid_time_range",
        last_error_message="No time slots found",
    )

    access_codes_escalate(now=before_check_in(code, hours=23))

    (message,) = mailoutbox
    assert "Last error from Seam: dormakaba_oracode_invalid_time_range: No time slots found" in message.body


def test_staff_of_another_site_never_receive_it(ocean: Site, harbour: Site, mailoutbox: list[EmailMessage]) -> None:
    ocean_code = requested_code(ocean, guest="Ana Souza")
    harbour_code = requested_code(harbour, door="Apartment 1A", guest="Liam Chen")
    # Sydney's 14:00 AEST check-in is 04:00 UTC, Los Angeles' 15:00 PDT is 22:00 UTC.
    now = max(ocean_code.starts_at, harbour_code.starts_at) - timedelta(hours=23)

    escalated = access_codes_escalate(now=now)

    assert {c.pk for c in escalated} == {ocean_code.pk, harbour_code.pk}
    by_guest = {m.subject.split(" for ")[1]: m for m in mailoutbox}
    assert sorted(by_guest["Ana Souza not set"].to) == ["joao@example.com", "maria@example.com"]
    assert by_guest["Liam Chen not set"].to == ["harbour_staff@example.com"]
    assert "Harbour View, Apartment 1A" in by_guest["Liam Chen not set"].body
    assert "Check-in: Tue 10 Sep 14:00 (Australia/Sydney, AEST)" in by_guest["Liam Chen not set"].body


def test_inactive_staff_and_staff_without_email_get_nothing(ocean: Site, mailoutbox: list[EmailMessage]) -> None:
    code = requested_code(ocean)

    access_codes_escalate(now=before_check_in(code, hours=23))

    recipients = {address for message in mailoutbox for address in message.to}
    assert recipients == {"joao@example.com", "maria@example.com"}


def test_a_site_without_staff_email_records_that_nobody_was_told(mailoutbox: list[EmailMessage]) -> None:
    code = requested_code(make_site("Nobody Home"))

    assert access_codes_escalate(now=before_check_in(code, hours=23)) == [code]

    assert mailoutbox == []
    assert escalated_events(code) == ["warning: No staff of Nobody Home has an email address to notify."]


def test_a_mail_server_failure_is_recorded_and_does_not_stop_the_others(
    ocean: Site, mailoutbox: list[EmailMessage], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = requested_code(ocean, door="Room 101", guest="Ana Souza")
    second = requested_code(ocean, door="Room 102", guest="Bo Lind")
    real_send_mail = alerts.send_mail
    calls: list[str] = []

    def flaky_send_mail(subject: str, *args: Any, **kwargs: Any) -> int:
        calls.append(subject)
        if len(calls) == 1:
            raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
        return real_send_mail(subject, *args, **kwargs)

    monkeypatch.setattr(alerts, "send_mail", flaky_send_mail)

    escalated = access_codes_escalate(now=before_check_in(first, hours=23))

    assert len(escalated) == 2
    assert len(calls) == 2
    assert len(mailoutbox) == 1
    failed, sent = (first, second) if "Ana Souza" in calls[0] else (second, first)
    assert escalated_events(failed) == ["warning: Could not email staff: Connection unexpectedly closed"]
    assert escalated_events(sent) == ["warning: staff emailed (2 recipient(s))"]


@pytest.mark.parametrize(
    "change",
    [{"escalation": Escalation.WARNING}, {"status": Status.SET, "code": "123456"}],
    ids=["warned-by-another-sweep", "set-meanwhile"],
)
def test_a_code_changed_during_the_sweep_is_left_alone(
    ocean: Site, mailoutbox: list[EmailMessage], monkeypatch: pytest.MonkeyPatch, change: dict[str, str]
) -> None:
    codes = [
        requested_code(ocean, door="Room 101", guest="Ana Souza"),
        requested_code(ocean, door="Room 102", guest="Bo Lind"),
    ]
    real_notify = sweeping._notify_staff

    def notify_while_the_other_changes(code: AccessCode, level: str) -> None:
        # Both codes were selected already; the other one changes before its turn comes.
        (other,) = [c for c in codes if c.pk != code.pk]
        AccessCode.objects.filter(pk=other.pk).update(**change)
        real_notify(code, level)

    monkeypatch.setattr(sweeping, "_notify_staff", notify_while_the_other_changes)

    escalated = access_codes_escalate(now=before_check_in(codes[0], hours=23))

    assert len(escalated) == 1
    assert len(mailoutbox) == 1


def test_the_thresholds_come_from_settings(code: AccessCode, settings: Any, mailoutbox: list[EmailMessage]) -> None:
    assert access_codes_escalate(now=before_check_in(code, hours=30)) == []

    settings.CODES_WARN_HOURS = 48
    assert access_codes_escalate(now=before_check_in(code, hours=30)) == [code]

    assert access_codes_escalate(now=before_check_in(code, hours=5)) == []
    settings.CODES_URGENT_HOURS = 6
    assert access_codes_escalate(now=before_check_in(code, hours=5)) == [code]

    assert [m.subject.split("]")[0] for m in mailoutbox] == ["[Warning", "[URGENT"]


def test_the_beat_sweep_escalates_by_the_clock(
    code: AccessCode, settings: Any, mailoutbox: list[EmailMessage]
) -> None:
    with (
        time_machine.travel(before_check_in(code, hours=25), tick=False),
        TestCase.captureOnCommitCallbacks(execute=True),
    ):
        assert access_codes_sweep_task() == 0
    assert mailoutbox == []

    with (
        time_machine.travel(before_check_in(code, hours=23), tick=False),
        TestCase.captureOnCommitCallbacks(execute=True),
    ):
        assert access_codes_sweep_task() == 0
    assert [m.subject for m in mailoutbox] == ["[Warning] Code for Ana Souza not set"]
