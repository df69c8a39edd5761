"""The guest's code email: content, calendar, idempotent sending, failures, and a real SMTP server."""

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from icalendar import Calendar

from codes.emails import (
    build_code_calendar,
    code_email_request,
    code_email_send,
    code_email_send_task,
    code_window_text,
)
from codes.errors import Refused
from codes.models import AccessCode, AccessCodeEvent, CodeEmail
from tests.builders import make_code, make_lock, make_reservation, make_site, make_staff
from tests.fixtures.smtp import SMTPServer, free_port

pytestmark = pytest.mark.django_db

PIN = "804213"
LA = "America/Los_Angeles"
Status = CodeEmail.Status


def local(zone: str, *args: int) -> datetime:
    return datetime(*args).replace(tzinfo=ZoneInfo(zone))  # type: ignore[arg-type]


def code_for_stay(
    *,
    zone: str = LA,
    starts: tuple[int, ...] = (2030, 9, 10, 15),
    ends: tuple[int, ...] = (2030, 9, 15, 11),
    status: str = AccessCode.Status.SET,
    pin: str = PIN,
    **reservation_kw: Any,
) -> AccessCode:
    """A code set on the lock system for a stay at Ocean Beach Vacations, Room 101."""
    site = make_site(name=reservation_kw.pop("site_name", "Ocean Beach Vacations"), tz=zone)
    lock = make_lock(site, name="Room 101")
    starts_at, ends_at = local(zone, *starts), local(zone, *ends)
    reservation = make_reservation(
        lock, arrival=starts_at.date(), nights=(ends_at.date() - starts_at.date()).days, **reservation_kw
    )
    return make_code(
        reservation,
        starts_at=starts_at.astimezone(UTC),
        ends_at=ends_at.astimezone(UTC),
        timezone=zone,
        status=status,
        code=pin,
        seam_access_code_id=f"ac-{reservation.pk}" if status == AccessCode.Status.SET else "",
    )


@pytest.fixture
def code() -> AccessCode:
    return code_for_stay()


@pytest.fixture
def eager(settings: Any) -> Any:
    # Never reach a broker: a queued task runs in place when its transaction commits.
    settings.CELERY_TASK_ALWAYS_EAGER = True
    return settings


def send_now(code: AccessCode, capture: Callable[..., Any], **kw: Any) -> CodeEmail:
    """Request the email and run the queued task when the request commits, as a worker would."""
    with capture(execute=True):
        email = code_email_request(access_code=code, **kw)
    email.refresh_from_db()
    return email


def parts(message: Any) -> tuple[str, str, bytes]:
    """The text body, the HTML alternative and the .ics attachment of a Django message."""
    (html, mimetype) = message.alternatives[0]
    assert mimetype == "text/html"
    (filename, ics, ics_type) = message.attachments[0]
    assert (filename, ics_type) == ("stay.ics", "text/calendar")
    return message.body, html, ics.encode() if isinstance(ics, str) else ics


def emailed_events(code: AccessCode) -> list[str]:
    return list(code.events.filter(kind=AccessCodeEvent.Kind.EMAILED).values_list("message", flat=True))


# Content


def test_it_renders_both_parts_with_name_site_door_pin_window_and_keypad_help(
    code: AccessCode, eager: Any, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    email = send_now(code, django_capture_on_commit_callbacks)

    assert email.status == Status.SENT
    [message] = mail.outbox
    assert message.to == ["ana@example.com"]
    assert message.subject == "Your door code for Ocean Beach Vacations, Room 101"
    assert PIN not in message.subject
    text, html, _ = parts(message)
    window = "Tue 10 Sep 15:00 → Sun 15 Sep 11:00 (America/Los_Angeles, PDT)"
    for body in (text, html):
        assert "Ana Souza" in body
        assert "Ocean Beach Vacations" in body
        assert "Room 101" in body
        assert PIN in body
        assert window in body
        assert "enter the whole code" in body
        assert "works only inside the window" in body
        assert "cannot be changed" in body
    assert "monospace" in html
    assert 'aria-label="Door code: 8 0 4 2 1 3"' in html


def test_the_text_part_is_not_html_escaped_but_the_html_part_is(
    eager: Any, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    code = code_for_stay(guest_name="Zoë O'Brien & <Co>", site_name="Sea & Sand")

    send_now(code, django_capture_on_commit_callbacks)

    [message] = mail.outbox
    text, html, _ = parts(message)
    assert "Hello Zoë O'Brien & <Co>," in text
    assert message.subject == "Your door code for Sea & Sand, Room 101"
    assert "Zoë O&#x27;Brien &amp; &lt;Co&gt;" in html
    assert "<Co>" not in html


@pytest.mark.parametrize(
    ("zone", "starts", "ends", "expected"),
    [
        (LA, (2030, 9, 10, 15), (2030, 9, 15, 11), "Tue 10 Sep 15:00 → Sun 15 Sep 11:00 (America/Los_Angeles, PDT)"),
        # Clocks go back on 3 Nov 2030 and forward on 9 Mar 2031: both abbreviations are shown.
        (
            LA,
            (2030, 11, 1, 15),
            (2030, 11, 4, 11),
            "Fri 1 Nov 15:00 → Mon 4 Nov 11:00 (America/Los_Angeles, PDT → PST)",
        ),
        (
            LA,
            (2031, 3, 7, 15),
            (2031, 3, 10, 11),
            "Fri 7 Mar 15:00 → Mon 10 Mar 11:00 (America/Los_Angeles, PST → PDT)",
        ),
        # Southern hemisphere: Sydney's clocks go forward on 6 Oct 2030.
        (
            "Australia/Sydney",
            (2030, 10, 4, 14),
            (2030, 10, 7, 10),
            "Fri 4 Oct 14:00 → Mon 7 Oct 10:00 (Australia/Sydney, AEST → AEDT)",
        ),
        # Half-hour and quarter-hour zones; Kathmandu has only a numeric abbreviation.
        (
            "Australia/Adelaide",
            (2030, 7, 1, 15),
            (2030, 7, 3, 10),
            "Mon 1 Jul 15:00 → Wed 3 Jul 10:00 (Australia/Adelaide, ACST)",
        ),
        (
            "Asia/Kathmandu",
            (2030, 7, 1, 14),
            (2030, 7, 3, 12),
            "Mon 1 Jul 14:00 → Wed 3 Jul 12:00 (Asia/Kathmandu, UTC+05:45)",
        ),
        # Across New Year the years are shown.
        (
            "Europe/Paris",
            (2030, 12, 30, 16),
            (2031, 1, 2, 10),
            "Mon 30 Dec 2030 16:00 → Thu 2 Jan 2031 10:00 (Europe/Paris, CET)",
        ),
    ],
)
def test_the_window_is_in_the_locks_local_time_with_its_zone(
    zone: str, starts: tuple[int, ...], ends: tuple[int, ...], expected: str
) -> None:
    code = code_for_stay(zone=zone, starts=starts, ends=ends)

    assert code_window_text(code) == expected


def test_the_window_across_a_dst_change_reaches_the_email(
    eager: Any, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    code = code_for_stay(starts=(2030, 11, 1, 15), ends=(2030, 11, 4, 11))

    send_now(code, django_capture_on_commit_callbacks)

    text, html, _ = parts(mail.outbox[0])
    window = "Fri 1 Nov 15:00 → Mon 4 Nov 11:00 (America/Los_Angeles, PDT → PST)"
    assert window in text
    assert window in html


# Calendar


def read_event(ics: bytes) -> tuple[Calendar, Any]:
    calendar = Calendar.from_ical(ics)
    [event] = calendar.walk("VEVENT")
    return calendar, event


def test_the_calendar_event_is_the_stay_window_without_the_pin() -> None:
    code = code_for_stay(starts=(2030, 11, 1, 15), ends=(2030, 11, 4, 11))

    ics = build_code_calendar(code)

    _, event = read_event(ics)
    assert event.start == code.starts_at
    assert event.end == code.ends_at
    assert event.start.astimezone(UTC) == datetime(2030, 11, 1, 22, tzinfo=UTC)  # 15:00 PDT
    assert event.end.astimezone(UTC) == datetime(2030, 11, 4, 19, tzinfo=UTC)  # 11:00 PST
    assert b"DTSTART;TZID=America/Los_Angeles:20301101T150000" in ics
    assert "Ocean Beach Vacations, Room 101" in str(event["summary"])
    assert "door code is in the email" in str(event["description"])
    assert PIN.encode() not in ics


def test_the_calendars_own_vtimezone_gives_the_same_instants() -> None:
    """A client that reads the VTIMEZONE (Outlook) rather than the zone name gets it right too."""
    code = code_for_stay(zone="Australia/Sydney", starts=(2030, 10, 4, 14), ends=(2030, 10, 7, 10))

    calendar, event = read_event(build_code_calendar(code))

    [vtimezone] = calendar.timezones
    assert vtimezone.tz_name == "Australia/Sydney"
    tz = vtimezone.to_tz()
    start = event.start.replace(tzinfo=None).replace(tzinfo=tz)
    end = event.end.replace(tzinfo=None).replace(tzinfo=tz)
    assert start.astimezone(UTC) == code.starts_at  # 14:00 AEST
    assert end.astimezone(UTC) == code.ends_at  # 10:00 AEDT


def test_the_calendar_uid_is_stable_per_code() -> None:
    code = code_for_stay()
    other = code_for_stay(site_name="Other Place")

    first, again = read_event(build_code_calendar(code))[1], read_event(build_code_calendar(code))[1]
    assert str(first["uid"]) == str(again["uid"]) == f"access-code-{code.pk}@localhost"
    assert str(read_event(build_code_calendar(other))[1]["uid"]) != str(first["uid"])


# Refusals


@pytest.mark.parametrize("status", [AccessCode.Status.PENDING, AccessCode.Status.WAITING, AccessCode.Status.FAILED])
def test_it_refuses_a_code_that_is_not_set(status: str) -> None:
    code = code_for_stay(status=status, pin="")

    with pytest.raises(Refused, match="not set on the lock system yet"):
        code_email_request(access_code=code)
    assert not CodeEmail.objects.exists()


def test_it_refuses_a_set_code_without_a_pin() -> None:
    code = code_for_stay(pin="")

    with pytest.raises(Refused, match="PIN is not known yet"):
        code_email_request(access_code=code)


def test_it_refuses_a_guest_without_an_email_address() -> None:
    code = code_for_stay(guest_email="")

    with pytest.raises(Refused, match="no guest email address"):
        code_email_request(access_code=code)


def test_it_refuses_a_stay_that_has_ended() -> None:
    code = code_for_stay(starts=(2020, 9, 10, 15), ends=(2020, 9, 15, 11))

    with pytest.raises(Refused, match="stay has ended"):
        code_email_request(access_code=code)


# Idempotency


def test_it_queues_the_send_after_commit_and_records_it(
    code: AccessCode, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    staff = make_staff("front", code.reservation.site)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        email = code_email_request(access_code=code, user=staff)

    assert len(callbacks) == 1
    assert mail.outbox == []
    assert (email.status, email.to_address, email.requested_by, email.is_resend) == (
        Status.QUEUED,
        "ana@example.com",
        staff,
        False,
    )
    assert email.requested_at is not None


def test_a_duplicate_task_delivery_sends_once(
    code: AccessCode, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    with django_capture_on_commit_callbacks(execute=False):
        email = code_email_request(access_code=code)

    first = code_email_send_task(email.pk)
    second = code_email_send(code_email_id=email.pk)

    assert first == Status.SENT
    assert second.status == Status.SENT
    assert len(mail.outbox) == 1
    assert second.sent_at is not None
    assert emailed_events(code) == ["Emailed to ana@example.com"]


def test_a_double_click_queues_one_email(
    code: AccessCode, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        first = code_email_request(access_code=code)
        second = code_email_request(access_code=code)
        resend_click = code_email_request(access_code=code, resend=True)

    assert first.pk == second.pk == resend_click.pk
    assert CodeEmail.objects.count() == 1
    assert len(callbacks) == 1


def test_the_database_allows_one_email_in_flight_per_code(code: AccessCode) -> None:
    CodeEmail.objects.create(access_code=code, to_address="ana@example.com", status=Status.FAILED)
    CodeEmail.objects.create(access_code=code, to_address="ana@example.com", status=Status.SENDING)

    with pytest.raises(IntegrityError):
        CodeEmail.objects.create(access_code=code, to_address="ana@example.com", status=Status.QUEUED)


@pytest.mark.django_db(transaction=True)
def test_two_requests_racing_past_the_check_queue_one_email(
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    """Another connection inserts between this request's check and its insert (PostgreSQL)."""
    if connection.vendor != "postgresql":
        pytest.skip("needs a second connection that can hold an uncommitted row (PostgreSQL)")
    code = code_for_stay()
    inserted, other_done = threading.Event(), threading.Event()
    other: list[CodeEmail] = []

    def other_click() -> None:
        try:
            with transaction.atomic():
                other.append(CodeEmail.objects.create(access_code=code, to_address="ana@example.com"))
                inserted.set()
                # Stay uncommitted until this request's insert waits on the unique index.
                time.sleep(0.5)
        finally:
            connection.close()
            other_done.set()

    thread = threading.Thread(target=other_click)
    thread.start()
    assert inserted.wait(5)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        email = code_email_request(access_code=code)
    thread.join(5)

    assert other_done.is_set()
    assert email.pk == other[0].pk
    assert CodeEmail.objects.count() == 1
    assert callbacks == []  # the other request queues its own send


def test_asking_again_without_resend_returns_the_email_already_sent(
    code: AccessCode, eager: Any, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    sent = send_now(code, django_capture_on_commit_callbacks)

    again = send_now(code, django_capture_on_commit_callbacks)

    assert again.pk == sent.pk
    assert len(mail.outbox) == 1


def test_staff_can_resend_on_purpose(
    code: AccessCode, eager: Any, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    staff = make_staff("front", code.reservation.site)
    first = send_now(code, django_capture_on_commit_callbacks)

    second = send_now(code, django_capture_on_commit_callbacks, user=staff, resend=True)

    assert second.pk != first.pk
    assert (second.status, second.is_resend, second.requested_by) == (Status.SENT, True, staff)
    assert CodeEmail.objects.filter(access_code=code).count() == 2
    assert len(mail.outbox) == 2
    assert emailed_events(code) == ["Emailed to ana@example.com", "Resent to ana@example.com"]
    assert code.events.get(message="Resent to ana@example.com").user == staff
    assert list(code.emails.all()) == [second, first]  # newest first, as the dashboard shows


def test_a_send_does_nothing_for_an_email_that_is_not_queued(code: AccessCode) -> None:
    email = CodeEmail.objects.create(access_code=code, to_address="ana@example.com", status=Status.SENDING)

    assert code_email_send(code_email_id=email.pk).status == Status.SENDING
    assert mail.outbox == []


def test_an_email_whose_worker_died_mid_send_is_failed_and_a_new_one_can_be_queued(
    code: AccessCode, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    stuck = CodeEmail.objects.create(
        access_code=code,
        to_address="ana@example.com",
        status=Status.SENDING,
        claimed_at=timezone.now() - timedelta(hours=1),
    )

    with django_capture_on_commit_callbacks(execute=False):
        fresh = code_email_request(access_code=code, resend=True)

    stuck.refresh_from_db()
    assert stuck.status == Status.FAILED
    assert "may not have received" in stuck.error
    assert fresh.pk != stuck.pk
    assert fresh.status == Status.QUEUED


def test_an_email_whose_task_was_lost_is_queued_again(
    code: AccessCode, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    lost = CodeEmail.objects.create(access_code=code, to_address="ana@example.com")
    CodeEmail.objects.filter(pk=lost.pk).update(queued_at=timezone.now() - timedelta(hours=1))

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        again = code_email_request(access_code=code)

    assert again.pk == lost.pk
    assert len(callbacks) == 1


# Failures


@pytest.fixture
def closed_smtp_port(settings: Any) -> int:
    """Django's SMTP backend pointed at a port nobody listens on: the connection is refused."""
    port = free_port()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    return port


def test_a_send_failure_is_recorded_and_shown_not_lost(
    code: AccessCode, eager: Any, closed_smtp_port: int, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    email = send_now(code, django_capture_on_commit_callbacks)

    assert email.status == Status.FAILED
    assert email.sent_at is None
    assert "ConnectionRefusedError" in email.error
    [event] = emailed_events(code)
    assert event.startswith("Email to ana@example.com failed: ConnectionRefusedError")


def test_after_a_failure_staff_can_send_again(
    code: AccessCode,
    eager: Any,
    closed_smtp_port: int,
    settings: Any,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    failed = send_now(code, django_capture_on_commit_callbacks)
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

    retried = send_now(code, django_capture_on_commit_callbacks)

    assert failed.status == Status.FAILED
    assert retried.pk != failed.pk
    assert retried.status == Status.SENT
    assert len(mail.outbox) == 1


def test_a_code_no_longer_set_when_the_task_runs_is_not_sent(code: AccessCode) -> None:
    email = CodeEmail.objects.create(access_code=code, to_address="ana@example.com")
    AccessCode.objects.filter(pk=code.pk).update(status=AccessCode.Status.FAILED)

    email = code_email_send(code_email_id=email.pk)

    assert email.status == Status.FAILED
    assert "not set on the lock system" in email.error
    assert mail.outbox == []


def test_the_pin_is_never_logged(
    code: AccessCode,
    eager: Any,
    settings: Any,
    closed_smtp_port: int,
    caplog: pytest.LogCaptureFixture,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    caplog.set_level(logging.DEBUG)
    failed = send_now(code, django_capture_on_commit_callbacks)
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    sent = send_now(code, django_capture_on_commit_callbacks, resend=True)

    assert (failed.status, sent.status) == (Status.FAILED, Status.SENT)
    assert caplog.records  # the failure and the send were logged ...
    assert PIN not in caplog.text  # ... without the PIN
    assert all(PIN not in record.getMessage() for record in caplog.records)
    assert all(PIN not in event for event in emailed_events(code))


# A real SMTP server


def test_a_real_smtp_server_receives_text_html_and_the_calendar(
    code: AccessCode,
    eager: Any,
    settings: Any,
    smtp_server: SMTPServer,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    for name, value in smtp_server.django_settings().items():
        setattr(settings, name, value)

    email = send_now(code, django_capture_on_commit_callbacks)

    assert email.status == Status.SENT, email.error
    [message] = smtp_server.messages
    assert isinstance(message, EmailMessage)
    assert smtp_server.envelopes[0][1] == ["ana@example.com"]
    assert message["To"] == "ana@example.com"
    assert message["Subject"] == "Your door code for Ocean Beach Vacations, Room 101"
    assert message.is_multipart()
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None
    assert html is not None
    assert PIN in text.get_content()
    assert PIN in html.get_content()
    assert "Tue 10 Sep 15:00 → Sun 15 Sep 11:00 (America/Los_Angeles, PDT)" in text.get_content()
    [attachment] = list(message.iter_attachments())
    assert attachment.get_content_type() == "text/calendar"
    assert attachment.get_filename() == "stay.ics"
    _, event = read_event(attachment.get_content().encode())
    assert event.start == code.starts_at
    assert event.end == code.ends_at
