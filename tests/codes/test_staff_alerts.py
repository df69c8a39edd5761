"""Staff alerts end to end: every kind's email links to the page that fixes it, each problem is
emailed once however often it is reported, and a problem that resolves itself (the code got
set, the door is back, the feed syncs again) tells the staff who heard of it, once.

Alert emails are tasks queued on commit: ``committed()`` runs them in place, as a worker would
once the beat's or the webhook's transaction commits. Seam stays out of it: the codes are rows,
Seam's word arrives as the services take it (a webhook payload, a stored status check).
"""

import email.message
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.db import connection
from django.test import Client, TestCase
from django.urls import resolve

from codes import alerts
from codes.following import access_code_store_check
from codes.models import AccessCode, StaffAlert
from codes.sending import days_before_at, guest_emails_send_due
from codes.stays import reservation_cancel
from codes.sweeping import access_codes_escalate
from codes.webhooks import webhook_receive
from feeds.models import CalendarFeed, FeedStay
from feeds.sync import feed_create, feed_removals_confirm, feed_sync
from locks.models import Lock
from locks.seam import SeamAccessCode
from properties.models import Reservation, Site, Unit
from tests.builders import at_once, make_code, make_lock, make_reservation, make_site, make_staff, make_unit
from tests.conftest import skip_or_fail
from tests.fixtures.calendars import CalendarServer
from tests.fixtures.smtp import SMTPServer

pytestmark = pytest.mark.django_db

Kind = StaffAlert.Kind
Status = AccessCode.Status
Escalation = AccessCode.Escalation

BASE_URL = "https://codes.example.com"
ARRIVAL = date(2030, 9, 10)
# Feeds are synced "now" well before the stays they list.
FEED_NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
FEED_PATH = "/cabin-7.ics"
STAY_UID = "stay-1@example.com"
EMPTY_CALENDAR = "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:x\nEND:VCALENDAR\n"
ONE_STAY_CALENDAR = (
    "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:x\nBEGIN:VEVENT\nDTSTART;VALUE=DATE:20300910\n"
    f"DTEND;VALUE=DATE:20300913\nUID:{STAY_UID}\nSUMMARY:Reserved\nEND:VEVENT\nEND:VCALENDAR\n"
)


@pytest.fixture(autouse=True)
def alert_settings(settings: Any) -> None:
    # make_staff sets a password; the default hasher would spend seconds per test on it.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Never reach a broker: a queued task runs in place when its transaction commits.
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.APP_BASE_URL = BASE_URL
    settings.FEEDS_ALERT_AFTER_MINUTES = 60


@contextmanager
def committed() -> Iterator[None]:
    """The block's work committed: the tasks it queued on commit run (and those they queue)."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        yield


@pytest.fixture
def site() -> Site:
    return make_site("Ocean Beach Vacations")


@pytest.fixture
def staff(site: Site) -> User:
    user = make_staff("maria", site)
    user.email = "maria@example.com"
    user.save()
    return user


@pytest.fixture
def lock(site: Site) -> Lock:
    return make_lock(site, "Room 101", seam_connected_account_id="acct-ocean")


@pytest.fixture
def code(lock: Lock) -> AccessCode:
    """A guest's code Seam has made and not set yet."""
    reservation = make_reservation(lock, arrival=ARRIVAL, guest_name="Ana Souza")
    return make_code(reservation, lock=lock, status=Status.WAITING, code="", seam_access_code_id="seam-ana")


@pytest.fixture
def cabin(site: Site) -> Unit:
    return make_unit(site, "Cabin 7")


@pytest.fixture
def feed(cabin: Unit, calendar_server: CalendarServer) -> CalendarFeed:
    url = calendar_server.serve(FEED_PATH, EMPTY_CALENDAR)
    return feed_create(unit=cabin, url=url, channel=CalendarFeed.Channel.AIRBNB)


def seam_sets(code: AccessCode) -> AccessCode:
    """Seam's answer that the code is set, stored as a status check stores it."""
    answer = SeamAccessCode(
        access_code_id=code.seam_access_code_id,
        device_id=code.lock.seam_device_id,
        name=code.name,
        code="804213",
        status="set",
        starts_at=code.starts_at,
        ends_at=code.ends_at,
        errors=[],
        warnings=[],
        pending_mutations=[],
        is_offline_access_code=True,
    )
    return access_code_store_check(access_code_id=code.pk, seam_code=answer)


_deliveries = iter(range(1, 10_000))


def seam_event(event_type: str, **fields: str) -> bool:
    """A verified webhook from Seam, as the view hands it on (each a delivery of its own)."""
    return webhook_receive(svix_id=f"msg_{next(_deliveries)}", payload={"event_type": event_type, **fields})


def body_of(message: Any) -> str:
    """The text of an email: Django's (the test outbox) or one received over SMTP."""
    return str(message.get_content() if isinstance(message, email.message.EmailMessage) else message.body)


def link_in(message: Any) -> str:
    """The path of the one absolute link in an email's body."""
    (url,) = re.findall(rf"{re.escape(BASE_URL)}\S*", body_of(message))
    return str(url).removeprefix(BASE_URL)


def subjects() -> list[str]:
    return [str(m.subject) for m in mail.outbox]


def the_alert(kind: str) -> StaffAlert:
    return StaffAlert.objects.get(kind=kind)


# Every kind links to the page that fixes it


def raise_code_failed(code: AccessCode, **_: Any) -> None:
    code.last_error_type, code.last_error_message = "provider_issue", "No time slots found"
    alerts.alert_code_failed(code)


def raise_window_mismatch(code: AccessCode, **_: Any) -> None:
    code.seam_window_mismatch = "Seam made Tue 10 Sep 16:00 → Fri 13 Sep 11:00 on “Guest 16:00-11:00”."
    alerts.alert_window_mismatch(code)


def raise_code_removed(code: AccessCode, **_: Any) -> None:
    assert seam_event("access_code.removed_from_device", access_code_id=code.seam_access_code_id)


def raise_code_not_set(code: AccessCode, **_: Any) -> None:
    assert access_codes_escalate(now=code.starts_at - timedelta(hours=23)) == [code]


def raise_door_disconnected(lock: Lock, **_: Any) -> None:
    assert seam_event("device.disconnected", device_id=lock.seam_device_id)


def raise_door_removed(lock: Lock, **_: Any) -> None:
    assert seam_event("device.removed", device_id=lock.seam_device_id)


def raise_account_disconnected(lock: Lock, **_: Any) -> None:
    assert seam_event("connected_account.disconnected", connected_account_id=lock.seam_connected_account_id)


def raise_stay_needs_attention(code: AccessCode, **_: Any) -> None:
    reservation = code.reservation
    reservation.attention = "Room 101 offers no window for these dates."
    reservation.save()
    alerts.alert_stay_needs_attention(reservation)


def raise_guest_no_email(code: AccessCode, **_: Any) -> None:
    Reservation.objects.filter(pk=code.reservation_id).update(guest_email="")
    reservation = Reservation.objects.select_related("site", "unit").get(pk=code.reservation_id)
    guest_emails_send_due(now=days_before_at(reservation) + timedelta(minutes=1))


def raise_feed_failing(feed: CalendarFeed, calendar_server: CalendarServer, **_: Any) -> None:
    calendar_server.serve(FEED_PATH, status=500)
    for minutes in (0, 61):
        assert feed_sync(feed=feed, now=FEED_NOW + timedelta(minutes=minutes)).error


def raise_feed_held(feed: CalendarFeed, cabin: Unit, **_: Any) -> None:
    stay = make_reservation(cabin, arrival=ARRIVAL)
    FeedStay.objects.create(feed=feed, uid=STAY_UID, reservation=stay)
    assert feed_sync(feed=feed, now=FEED_NOW).held == 1, "the feed lists none of its stays"


KINDS: dict[str, tuple[Callable[..., None], str]] = {
    Kind.CODE_FAILED: (raise_code_failed, "reservation_detail"),
    Kind.WINDOW_MISMATCH: (raise_window_mismatch, "reservation_detail"),
    Kind.CODE_REMOVED: (raise_code_removed, "reservation_detail"),
    Kind.CODE_NOT_SET: (raise_code_not_set, "reservation_detail"),
    Kind.DOOR_DISCONNECTED: (raise_door_disconnected, "door_codes"),
    Kind.DOOR_REMOVED: (raise_door_removed, "door_codes"),
    Kind.ACCOUNT_DISCONNECTED: (raise_account_disconnected, "home"),
    Kind.STAY_NEEDS_ATTENTION: (raise_stay_needs_attention, "reservation_detail"),
    Kind.GUEST_NO_EMAIL: (raise_guest_no_email, "reservation_guest"),
    Kind.FEED_FAILING: (raise_feed_failing, "unit_detail"),
    Kind.FEED_HELD: (raise_feed_held, "unit_detail"),
}
# The dashboard lists these stays and feeds themselves, not as alerts.
LISTED_ON_THEIR_OWN = {Kind.STAY_NEEDS_ATTENTION, Kind.FEED_FAILING, Kind.FEED_HELD}


def test_every_kind_of_alert_is_covered() -> None:
    assert set(KINDS) == set(Kind.values)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_kinds_email_links_to_the_page_that_fixes_it(
    kind: str,
    staff: User,
    code: AccessCode,
    lock: Lock,
    cabin: Unit,
    feed: CalendarFeed,
    calendar_server: CalendarServer,
    client: Client,
) -> None:
    raise_it, page = KINDS[kind]

    with committed():
        raise_it(code=code, lock=lock, cabin=cabin, feed=feed, calendar_server=calendar_server)

    alert = the_alert(kind)
    (message,) = mail.outbox
    assert message.to == ["maria@example.com"]
    path = link_in(message)
    assert resolve(path).url_name == page
    client.force_login(staff)
    assert client.get(path).status_code == 200
    if page == "reservation_detail" or page == "reservation_guest":
        assert resolve(path).kwargs == {"pk": code.reservation_id}
    elif page == "door_codes":
        assert resolve(path).kwargs == {"pk": lock.pk}
    elif page == "unit_detail":
        assert resolve(path).kwargs == {"pk": cabin.pk}
    dashboard = client.get("/").content.decode()
    if kind not in LISTED_ON_THEIR_OWN:
        shown = dashboard[dashboard.index(f'data-kind="{kind}"') :]
        shown = shown[: shown.index("</div>")]
        assert page == "home" or f'href="{path}"' in shown, "the dashboard links where the email does"
    assert alert.emailed_at is not None


def test_the_link_follows_the_setting(settings: Any, staff: User, lock: Lock) -> None:
    settings.APP_BASE_URL = "https://front-desk.example.org"

    with committed():
        raise_door_disconnected(lock)

    assert f"https://front-desk.example.org/doors/{lock.pk}/codes/" in mail.outbox[0].body


# Codes not set in time


def test_a_code_not_set_in_time_is_alerted_once_and_its_setting_later_says_so_once(
    staff: User, code: AccessCode, client: Client
) -> None:
    with committed():
        access_codes_escalate(now=code.starts_at - timedelta(hours=23))
        access_codes_escalate(now=code.starts_at - timedelta(hours=22))  # the next beat
        access_codes_escalate(now=code.starts_at - timedelta(hours=22))  # a beat run twice

    alert = the_alert(Kind.CODE_NOT_SET)
    assert subjects() == ["[Warning] Code for Ana Souza not set"]
    assert "Ana Souza" in alert.message
    client.force_login(staff)
    dashboard = client.get("/").content.decode()
    assert dashboard.count('data-kind="code_not_set"') == 1

    with committed():
        seam_sets(code)
        seam_sets(code)  # Seam's word again (a webhook and a poll): the code is set already

    alert.refresh_from_db()
    assert alert.resolved_at is not None
    assert alert.resolution == "Resolved: the code for Ana Souza on Room 101 is set now."
    assert subjects() == ["[Warning] Code for Ana Souza not set", "[Resolved] Code for Ana Souza not set"]
    assert mail.outbox[1].body.startswith("Resolved: the code for Ana Souza on Room 101 is set now.")
    assert link_in(mail.outbox[1]) == f"/reservations/{code.reservation_id}/"
    assert 'data-kind="code_not_set"' not in client.get("/").content.decode()

    with committed():
        access_codes_escalate(now=code.starts_at - timedelta(hours=1))
    assert len(mail.outbox) == 2, "a set code is never escalated again"


def test_urgent_is_a_second_email_and_the_dashboard_shows_the_urgent_one_only(
    staff: User, code: AccessCode, client: Client
) -> None:
    with committed():
        access_codes_escalate(now=code.starts_at - timedelta(hours=23))
    with committed():
        access_codes_escalate(now=code.starts_at - timedelta(hours=1, minutes=30))

    assert subjects() == ["[Warning] Code for Ana Souza not set", "[URGENT] Code for Ana Souza not set"]
    open_alerts = StaffAlert.objects.filter(resolved_at__isnull=True)
    assert [a.key for a in open_alerts] == [f"code_not_set:{code.pk}:urgent"]
    assert "have a key ready" in open_alerts[0].message
    client.force_login(staff)
    assert client.get("/").content.decode().count('data-kind="code_not_set"') == 1

    with committed():
        seam_sets(code)

    assert subjects()[2:] == ["[Resolved] Code for Ana Souza not set"], "one resolution, not one per level"


def test_a_code_set_before_its_alert_went_out_sends_nothing_at_all(staff: User, code: AccessCode) -> None:
    with TestCase.captureOnCommitCallbacks(execute=False) as queued:
        access_codes_escalate(now=code.starts_at - timedelta(hours=23))
    with committed():
        seam_sets(code)
    for task in queued:  # the alert's email task, delivered late
        task()

    alert = the_alert(Kind.CODE_NOT_SET)
    assert alert.resolved_at is not None
    assert alert.emailed_at is None
    assert mail.outbox == []
    assert alerts.staff_alerts_requeue_unsent(now=alert.created_at + timedelta(hours=1)) == []
    assert mail.outbox == []


def test_a_resolution_staff_were_never_emailed_about_sends_nothing(site: Site, code: AccessCode) -> None:
    with committed():
        access_codes_escalate(now=code.starts_at - timedelta(hours=23))
    alert = the_alert(Kind.CODE_NOT_SET)
    assert alert.email_error == "No staff of Ocean Beach Vacations has an email address to notify."
    colleague = make_staff("joao", site)  # joins with an address before the code is set
    colleague.email = "joao@example.com"
    colleague.save()

    with committed():
        seam_sets(code)

    alert.refresh_from_db()
    assert alert.resolution
    assert mail.outbox == []


def test_the_alert_of_a_stay_cancelled_meanwhile_is_resolved_quietly(staff: User, code: AccessCode) -> None:
    with committed():
        access_codes_escalate(now=code.starts_at - timedelta(hours=23))
    reservation_cancel(reservation=code.reservation, user=staff)

    with committed():
        access_codes_escalate(now=code.starts_at - timedelta(hours=1))

    alert = the_alert(Kind.CODE_NOT_SET)
    assert alert.resolved_at is not None
    assert alert.resolution == ""
    assert subjects() == ["[Warning] Code for Ana Souza not set"]


# Doors and accounts


def test_a_door_disconnected_and_connected_again_is_one_alert_and_one_resolution_over_smtp(
    settings: Any, smtp_server: SMTPServer, staff: User, lock: Lock
) -> None:
    for name, value in smtp_server.django_settings().items():
        setattr(settings, name, value)

    with committed():
        assert seam_event("device.disconnected", device_id=lock.seam_device_id, error_code="device_disconnected")
        assert seam_event("device.disconnected", device_id=lock.seam_device_id)  # Seam says it again
    with committed():
        assert seam_event("device.connected", device_id=lock.seam_device_id)
        assert seam_event("device.connected", device_id=lock.seam_device_id)

    # The en dash makes the subject an encoded word, folded onto the header's next line.
    assert [str(m["Subject"]).strip() for m in smtp_server.messages] == [
        "[Alert] Ocean Beach Vacations – Room 101: Door disconnected",
        "[Resolved] Ocean Beach Vacations – Room 101: Door disconnected",
    ]
    assert [rcpt for _, rcpt in smtp_server.envelopes] == [["maria@example.com"]] * 2
    resolution = body_of(smtp_server.messages[1])
    assert resolution.startswith("Resolved: Seam reports Room 101 connected again.")
    assert link_in(smtp_server.messages[1]) == f"/doors/{lock.pk}/codes/"


def test_a_webhook_delivered_twice_alerts_once(staff: User, lock: Lock) -> None:
    payload = {"event_type": "device.disconnected", "device_id": lock.seam_device_id}

    with committed():
        assert webhook_receive(svix_id="msg_twice", payload=payload)
        assert not webhook_receive(svix_id="msg_twice", payload=payload)

    assert StaffAlert.objects.count() == 1
    assert len(mail.outbox) == 1


def test_a_reconnected_account_tells_each_site_that_heard_of_it(staff: User, lock: Lock) -> None:
    other = make_site("Harbour View")
    make_lock(other, "Apartment 1A", seam_connected_account_id=lock.seam_connected_account_id)
    account = lock.seam_connected_account_id

    with committed():
        assert seam_event("connected_account.disconnected", connected_account_id=account)
    with committed():
        assert seam_event("connected_account.connected", connected_account_id=account)

    # Harbour View has nobody with an address: it was never emailed, so it hears nothing now.
    assert StaffAlert.objects.filter(resolved_at__isnull=False).count() == 2
    assert subjects() == [
        "[Alert] Ocean Beach Vacations: dormakaba account disconnected",
        "[Resolved] Ocean Beach Vacations: dormakaba account disconnected",
    ]


# Feeds


def test_a_feed_failing_for_an_hour_alerts_once_and_its_recovery_says_so_once(
    staff: User, cabin: Unit, feed: CalendarFeed, calendar_server: CalendarServer, client: Client
) -> None:
    calendar_server.serve(FEED_PATH, status=503)

    with committed():
        for minutes in (0, 15, 30, 45):
            assert feed_sync(feed=feed, now=FEED_NOW + timedelta(minutes=minutes)).error
    assert not StaffAlert.objects.exists(), "a blip of a few syncs is not news"

    with committed():
        for minutes in (60, 75, 90):
            assert feed_sync(feed=feed, now=FEED_NOW + timedelta(minutes=minutes)).error

    alert = the_alert(Kind.FEED_FAILING)
    assert "The Airbnb feed of Cabin 7 has failed since Sat 1 Jun 05:00 PDT" in alert.message
    assert "503" in alert.message
    assert subjects() == ["[Alert] Ocean Beach Vacations: Calendar feed failing"]
    assert link_in(mail.outbox[0]) == f"/units/{cabin.pk}/"
    feed.refresh_from_db()
    assert feed.last_error_at == FEED_NOW, "failing since its first failure"
    client.force_login(staff)
    assert 'data-kind="feed_failing"' not in client.get("/").content.decode(), "listed with the feeds instead"

    calendar_server.serve(FEED_PATH, EMPTY_CALENDAR)
    with committed():
        assert not feed_sync(feed=feed, now=FEED_NOW + timedelta(minutes=105)).error
        assert not feed_sync(feed=feed, now=FEED_NOW + timedelta(minutes=120)).error

    alert.refresh_from_db()
    assert alert.resolved_at is not None
    assert subjects()[1:] == ["[Resolved] Ocean Beach Vacations: Calendar feed failing"]
    assert mail.outbox[1].body.startswith("Resolved: the Airbnb feed of Cabin 7 syncs again.")

    calendar_server.serve(FEED_PATH, status=503)
    with committed():
        assert feed_sync(feed=feed, now=FEED_NOW + timedelta(minutes=135)).error
    assert StaffAlert.objects.filter(resolved_at__isnull=True).count() == 0, "failing again starts the clock again"


def test_a_feed_that_answers_unchanged_again_resolves_its_alert(
    staff: User, feed: CalendarFeed, calendar_server: CalendarServer
) -> None:
    with committed():
        assert not feed_sync(feed=feed, now=FEED_NOW).error
    good = calendar_server.answers[FEED_PATH]
    calendar_server.serve(FEED_PATH, status=500)
    with committed():
        for minutes in (15, 90):
            feed_sync(feed=feed, now=FEED_NOW + timedelta(minutes=minutes))
    calendar_server.answers[FEED_PATH] = good

    with committed():
        assert feed_sync(feed=feed, now=FEED_NOW + timedelta(minutes=105)).unchanged

    assert calendar_server.hits[FEED_PATH][-1] == 304
    assert subjects() == [
        "[Alert] Ocean Beach Vacations: Calendar feed failing",
        "[Resolved] Ocean Beach Vacations: Calendar feed failing",
    ]


def test_held_removals_confirmed_by_staff_send_no_resolution(
    staff: User, cabin: Unit, feed: CalendarFeed, calendar_server: CalendarServer
) -> None:
    with committed():
        raise_feed_held(feed=feed, cabin=cabin)
    assert len(mail.outbox) == 1

    with committed():
        assert feed_removals_confirm(feed=feed, user=staff, now=FEED_NOW) == 1

    assert the_alert(Kind.FEED_HELD).resolved_at is not None
    assert the_alert(Kind.FEED_HELD).resolution == ""
    assert len(mail.outbox) == 1


def test_held_removals_the_feed_lists_again_resolve_and_say_so(
    staff: User, cabin: Unit, feed: CalendarFeed, calendar_server: CalendarServer
) -> None:
    with committed():
        raise_feed_held(feed=feed, cabin=cabin)
    calendar_server.serve(FEED_PATH, ONE_STAY_CALENDAR)

    with committed():
        assert feed_sync(feed=feed, now=FEED_NOW + timedelta(minutes=15)).held == 0

    assert subjects()[1:] == ["[Resolved] Ocean Beach Vacations: Feed dropped many stays"]
    assert not Reservation.objects.filter(cancelled_at__isnull=False).exists()


# Staff's own resolutions


def test_a_stay_staff_cancel_resolves_its_alert_quietly(staff: User, code: AccessCode) -> None:
    with committed():
        raise_stay_needs_attention(code)
    assert len(mail.outbox) == 1

    with committed():
        reservation_cancel(reservation=code.reservation, user=staff)

    alert = the_alert(Kind.STAY_NEEDS_ATTENTION)
    assert alert.resolved_at is not None
    assert len(mail.outbox) == 1


# Delivered twice, lost, at once


def resolved_after_email(lock: Lock) -> StaffAlert:
    with committed():
        raise_door_disconnected(lock)
    with TestCase.captureOnCommitCallbacks(execute=False):
        seam_event("device.connected", device_id=lock.seam_device_id)  # its email task is lost
    return the_alert(Kind.DOOR_DISCONNECTED)


def test_a_resolution_task_delivered_twice_sends_one_email(staff: User, lock: Lock) -> None:
    alert = resolved_after_email(lock)

    assert alerts.staff_alert_resolution_email_task(alert.pk) == "sent"
    assert alerts.staff_alert_resolution_email_task(alert.pk) == "not sent"
    assert alerts.staff_alert_email_task(alert.pk) == "sent", "the alert's own task, late: already sent"

    assert len(mail.outbox) == 2
    alert.refresh_from_db()
    assert alert.resolution_emailed_at is not None


def test_a_lost_alert_task_is_queued_again_once_per_grace(staff: User, lock: Lock) -> None:
    with TestCase.captureOnCommitCallbacks(execute=False):
        raise_door_disconnected(lock)  # its email task is lost
    alert = the_alert(Kind.DOOR_DISCONNECTED)
    queued_at = alert.email_queued_at

    with committed():
        assert alerts.staff_alerts_requeue_unsent(now=queued_at + timedelta(minutes=6)) == [alert.pk]
        assert alerts.staff_alerts_requeue_unsent(now=queued_at + timedelta(minutes=7)) == []

    assert subjects() == ["[Alert] Ocean Beach Vacations – Room 101: Door disconnected"]


def test_a_lost_resolution_task_is_queued_again_by_the_sweep(staff: User, lock: Lock) -> None:
    alert = resolved_after_email(lock)
    assert alert.resolved_at is not None
    assert len(mail.outbox) == 1

    with committed():
        assert alerts.staff_alerts_requeue_unsent(now=alert.resolved_at + timedelta(minutes=1)) == []
    assert len(mail.outbox) == 1, "not before the grace"
    with committed():
        assert alerts.staff_alerts_requeue_unsent(now=alert.resolved_at + timedelta(minutes=6)) == [alert.pk]
        assert alerts.staff_alerts_requeue_unsent(now=alert.resolved_at + timedelta(minutes=7)) == []

    assert subjects()[1:] == ["[Resolved] Ocean Beach Vacations – Room 101: Door disconnected"]
    assert alerts.staff_alerts_requeue_unsent(now=alert.resolved_at + timedelta(minutes=30)) == []


@pytest.mark.django_db(transaction=True)
def test_two_workers_with_one_resolution_send_one_email(staff: User, lock: Lock) -> None:
    # SQLite serialises every write, so a race there proves nothing; CI runs this on PostgreSQL.
    if connection.vendor != "postgresql":
        skip_or_fail("racing workers need PostgreSQL (set DATABASE_URL)")
    raise_door_disconnected(lock)  # no transaction around: its email goes at once
    alert = the_alert(Kind.DOOR_DISCONNECTED)
    StaffAlert.objects.filter(pk=alert.pk).update(resolved_at=alert.created_at, resolution="Connected again.")
    sent = at_once(lambda: alerts.staff_alert_resolution_email(alert_id=alert.pk))

    assert sorted(sent) == [False, False, False, True]
    assert len(mail.outbox) == 2
