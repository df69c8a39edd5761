"""Sending the guest's code email on its own, by the site's policy, on a fake clock: due at the
right moment and not a minute before, sent once, never before every code is set, not after
cancellation; staff alerted in time about a guest without an address; the reservation page."""

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from codes import sending
from codes.creating import access_code_create
from codes.emails import code_email_request
from codes.models import AccessCode, AccessCodeEvent, CodeEmail, StaffAlert
from codes.sending import email_plan, guest_emails_send_due
from codes.tasks import guest_emails_send_due_task
from locks.models import Lock
from locks.seam import SeamClient
from locks.services import locks_sync
from properties.models import Reservation, Site
from simulator import demo
from tests.builders import book, make_code, make_lock, make_reservation, make_site, make_staff, make_unit, run_due
from tests.fixtures.simulator import SIMULATOR_API_KEY

pytestmark = pytest.mark.django_db

LA = ZoneInfo("America/Los_Angeles")
ARRIVAL = date(2030, 9, 10)
CHECK_IN = datetime(2030, 9, 10, 15, tzinfo=LA)  # the unit's standard 15:00, PDT
DUE = datetime(2030, 9, 7, 15, tzinfo=LA)  # three days before, by the site's clocks
Policy = Site.GuestEmailPolicy
Status = AccessCode.Status


@pytest.fixture
def clock() -> Iterator[time_machine.Coordinates]:
    with time_machine.travel(datetime(2030, 8, 1, 12, tzinfo=UTC), tick=False) as traveller:
        yield traveller


@pytest.fixture(autouse=True)
def eager(settings: Any) -> Any:
    # Never reach a broker: a queued task runs in place when its transaction commits.
    settings.CELERY_TASK_ALWAYS_EAGER = True
    return settings


@pytest.fixture
def beat(django_capture_on_commit_callbacks: Callable[..., Any]) -> Callable[[], int]:
    """One run of the beat task, its queued emails sent when it commits, as a worker would."""

    def run() -> int:
        with django_capture_on_commit_callbacks(execute=True):
            return int(guest_emails_send_due_task())

    return run


def set_code(reservation: Reservation, lock: Lock, **fields: Any) -> AccessCode:
    values: dict[str, Any] = {
        "lock": lock,
        "name": f"R{reservation.pk} {lock.name}",
        "seam_access_code_id": f"seam-{reservation.pk}-{lock.pk}",
        "set_at": datetime(2030, 8, 1, 12, tzinfo=UTC),
    }
    values.update(fields)
    return make_code(reservation, **values)


def stay(
    *,
    policy: str = Policy.BEFORE_ARRIVAL,
    days: int = 3,
    guest_email: str = "ana@example.com",
    status: str = Status.SET,
    site_name: str = "Ocean Beach Vacations",
) -> Reservation:
    """A stay at a site's Room 101, arriving ``ARRIVAL`` at 15:00 with one code in ``status``."""
    site = make_site(name=site_name, guest_email_policy=policy, guest_email_days_before=days)
    lock = make_lock(site)
    reservation = make_reservation(lock, arrival=ARRIVAL, guest_email=guest_email)
    set_code(reservation, lock, status=status, code="804213" if status == Status.SET else "")
    return reservation


def plan_of(reservation: Reservation) -> sending.EmailPlan | None:
    reservation = Reservation.objects.select_related("site", "unit").get(pk=reservation.pk)
    return email_plan(reservation=reservation, now=timezone.now())


def guest_emails() -> list[Any]:
    return [m for m in mail.outbox if m.to == ["ana@example.com"]]


def test_it_is_due_at_check_in_time_three_days_before_and_not_a_minute_earlier(clock, beat):
    reservation = stay()

    clock.move_to(DUE - timedelta(minutes=1))
    assert beat() == 0
    assert mail.outbox == []
    plan = plan_of(reservation)
    assert plan is not None
    assert (plan.state, plan.at) == ("due_later", DUE)
    assert plan.text == "due Sat 7 Sep 2030 15:00 PDT (site policy: 3 days before check-in)"

    clock.move_to(DUE)
    assert beat() == 1
    [message] = guest_emails()
    assert "804213" in message.body
    email = CodeEmail.objects.get()
    assert (email.status, email.is_automatic, email.requested_by) == (CodeEmail.Status.SENT, True, None)
    assert list(
        email.access_code.events.filter(kind=AccessCodeEvent.Kind.EMAILED).values_list("message", flat=True)
    ) == ["Emailed to ana@example.com automatically, by the site's email policy"]
    plan = plan_of(reservation)
    assert plan is not None
    assert plan.text == "sent automatically Sat 7 Sep 2030 15:00 PDT"


def test_the_days_before_follow_the_sites_clocks_across_a_daylight_saving_change(clock, beat):
    # Los Angeles leaves PDT on Sun 3 Nov 2030: check-in at 15:00 PST on the 5th, due at 15:00
    # PDT on the 2nd, 73 hours of elapsed time before.
    site = make_site(guest_email_days_before=3)
    lock = make_lock(site)
    reservation = make_reservation(lock, arrival=date(2030, 11, 5))
    set_code(reservation, lock, starts_at=datetime(2030, 11, 5, 15, tzinfo=LA))

    assert sending.days_before_at(reservation) == datetime(2030, 11, 2, 15, tzinfo=LA)
    clock.move_to(datetime(2030, 11, 2, 14, 59, tzinfo=LA))
    assert beat() == 0
    clock.move_to(datetime(2030, 11, 2, 15, tzinfo=LA))
    assert beat() == 1


def test_it_is_sent_once_however_often_the_beat_runs(clock, beat):
    stay()
    clock.move_to(DUE + timedelta(hours=1))

    assert beat() == 1
    assert beat() == 0
    clock.shift(timedelta(days=1))
    assert beat() == 0

    assert len(guest_emails()) == 1
    assert CodeEmail.objects.count() == 1


def test_a_second_worker_that_read_the_stay_as_due_sends_nothing_more(
    clock, django_capture_on_commit_callbacks, monkeypatch
):
    stay()
    clock.move_to(DUE)
    # Both workers read the stays due at once; the first requests and sends the email.
    stale = sending._candidates(timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        first = guest_emails_send_due(now=timezone.now())

    monkeypatch.setattr(sending, "_candidates", lambda now: stale)
    with django_capture_on_commit_callbacks(execute=True):
        second = guest_emails_send_due(now=timezone.now())

    assert second == first, "the second finds the first one's email rather than queueing another"
    assert CodeEmail.objects.count() == 1
    assert len(guest_emails()) == 1


def test_nothing_goes_before_every_door_has_its_code_set(clock, beat):
    site = make_site()
    front, room = make_lock(site, "Front door"), make_lock(site, "Room 101")
    reservation = make_reservation(make_unit(site, "Suite", front, room), arrival=ARRIVAL)
    set_code(reservation, front, code="111111")
    # Seam programs an offline code about an hour before it starts: the room's is still unset.
    late = set_code(reservation, room, status=Status.WAITING, code="", seam_access_code_id="seam-late", set_at=None)

    clock.move_to(DUE + timedelta(days=1))
    assert beat() == 0
    plan = plan_of(reservation)
    assert plan is not None
    assert plan.state == "waiting"
    assert plan.text.startswith(
        "will be sent when Seam sets the codes (about an hour before check-in for offline codes;"
    )

    clock.move_to(CHECK_IN - timedelta(minutes=59))
    AccessCode.objects.filter(pk=late.pk).update(status=Status.SET, code="222222", set_at=timezone.now())
    assert beat() == 1
    [message] = guest_emails()
    assert "111111" in message.body
    assert "222222" in message.body
    assert "programs door codes only shortly before check-in" in message.body


def test_a_code_set_early_gets_no_word_about_being_late(clock, beat):
    stay()
    clock.move_to(DUE)
    beat()
    [message] = guest_emails()
    assert "shortly before check-in" not in message.body


def test_a_cancelled_stay_gets_no_email(clock, beat):
    reservation = stay()
    Reservation.objects.filter(pk=reservation.pk).update(cancelled_at=timezone.now())

    clock.move_to(DUE + timedelta(hours=1))
    assert beat() == 0
    assert mail.outbox == []
    assert plan_of(reservation) is None


def test_as_soon_as_set_sends_at_once_weeks_ahead(clock, beat):
    stay(policy=Policy.WHEN_SET)
    assert beat() == 1
    assert len(guest_emails()) == 1


def test_as_soon_as_set_waits_for_the_code(clock, beat):
    reservation = stay(policy=Policy.WHEN_SET, status=Status.WAITING)
    assert beat() == 0
    AccessCode.objects.filter(reservation=reservation).update(status=Status.SET, code="804213", set_at=timezone.now())
    assert beat() == 1


def test_a_site_whose_staff_send_it_never_sends_on_its_own(clock, beat):
    reservation = stay(policy=Policy.STAFF)
    for moment in (DUE, CHECK_IN - timedelta(hours=1), CHECK_IN + timedelta(days=1)):
        clock.move_to(moment)
        assert beat() == 0
    assert mail.outbox == []
    plan = plan_of(reservation)
    assert plan is not None
    assert plan.text == "staff send it (site policy)"


def test_an_email_staff_sent_earlier_means_no_automatic_one(clock, beat, django_capture_on_commit_callbacks):
    reservation = stay()
    alice = make_staff("alice", reservation.site)
    with django_capture_on_commit_callbacks(execute=True):
        code_email_request(access_code=AccessCode.objects.get(), user=alice)

    clock.move_to(DUE)
    assert beat() == 0
    assert len(guest_emails()) == 1
    assert CodeEmail.objects.count() == 1
    plan = plan_of(reservation)
    assert plan is not None
    assert plan.text == "sent by alice Thu 1 Aug 2030 05:00 PDT"


def test_a_failed_automatic_send_is_tried_once_more_then_left_to_staff(clock, beat, monkeypatch):
    def refuse(self: Any, fail_silently: bool = False) -> int:
        raise OSError("SMTP server refused the connection")

    monkeypatch.setattr("django.core.mail.EmailMessage.send", refuse)
    reservation = stay()

    clock.move_to(DUE)
    assert beat() == 1
    clock.shift(timedelta(minutes=10))
    assert beat() == 0, "not at once: the failure would most likely repeat"
    plan = plan_of(reservation)
    assert plan is not None
    assert plan.state == "retry_later"
    clock.shift(timedelta(minutes=20))
    assert beat() == 1
    clock.shift(timedelta(hours=2))
    assert beat() == 0

    assert list(CodeEmail.objects.values_list("status", flat=True)) == [CodeEmail.Status.FAILED] * 2
    plan = plan_of(reservation)
    assert plan is not None
    assert plan.state == "gave_up"
    assert plan.text.startswith("the automatic send failed 2 times: staff must send it")


def test_a_guest_without_an_address_gets_staff_alerted_once_in_time(clock, beat):
    # The code is not set yet (offline codes are set an hour before check-in): staff hear of the
    # missing address at the policy's moment all the same, three days ahead.
    reservation = stay(guest_email="", status=Status.WAITING)
    staff = make_staff("alice", reservation.site)
    staff.email = "alice@example.com"
    staff.save()

    clock.move_to(DUE - timedelta(minutes=1))
    beat()
    assert not StaffAlert.objects.exists()
    plan = plan_of(reservation)
    assert plan is not None
    assert plan.text == "no guest address: staff will be alerted Sat 7 Sep 2030 15:00 PDT"

    clock.move_to(DUE)
    beat()
    beat()
    [alert] = StaffAlert.objects.all()
    assert alert.kind == StaffAlert.Kind.GUEST_NO_EMAIL
    assert "Ana Souza (Room 101, check-in Tue 10 Sep 2030 15:00 PDT) has no email address" in alert.message
    [staff_email] = mail.outbox
    assert staff_email.to == ["alice@example.com"]
    plan = plan_of(reservation)
    assert plan is not None
    assert plan.text == "no guest address: staff alerted"

    # Staff add the address; once the code is set, the email goes and the alert is resolved.
    Reservation.objects.filter(pk=reservation.pk).update(guest_email="ana@example.com")
    AccessCode.objects.filter(reservation=reservation).update(status=Status.SET, code="804213", set_at=timezone.now())
    clock.shift(timedelta(minutes=5))
    assert beat() == 1
    assert len(guest_emails()) == 1
    # The email goes out once the beat commits; the next beat sees it sent.
    assert beat() == 0
    alert.refresh_from_db()
    assert alert.resolved_at is not None
    assert StaffAlert.objects.count() == 1


def test_a_cancelled_stay_resolves_its_no_address_alert(clock, beat):
    reservation = stay(guest_email="", status=Status.WAITING)
    clock.move_to(DUE)
    beat()
    Reservation.objects.filter(pk=reservation.pk).update(cancelled_at=timezone.now())
    beat()
    assert StaffAlert.objects.get().resolved_at is not None


def test_the_reservation_page_says_what_is_due_and_what_went(clock, beat, client):
    reservation = stay()
    alice = make_staff("alice", reservation.site)
    client.force_login(alice)
    url = reverse("reservation_detail", args=[reservation.pk])

    page = client.get(url).content.decode()
    assert "<strong>Code email:</strong> due Sat 7 Sep 2030 15:00 PDT (site policy: 3 days before check-in)" in page

    clock.move_to(DUE)
    beat()
    client.force_login(alice)  # a staff session lasts a working day, not five weeks
    page = client.get(url).content.decode()
    assert "<strong>Code email:</strong> sent automatically Sat 7 Sep 2030 15:00 PDT" in page


def test_finding_the_due_stays_takes_a_fixed_number_of_queries(clock, django_assert_max_num_queries):
    for n in range(5):
        stay(site_name=f"Site {n}")
    clock.move_to(DUE - timedelta(hours=1))
    # The candidates, their codes and emails, the units' doors, the open alerts: no query per stay.
    with django_assert_max_num_queries(6):
        guest_emails_send_due(now=timezone.now())


def test_an_offline_code_seam_sets_an_hour_before_check_in_is_sent_when_set(
    start_seam_simulator, django_capture_on_commit_callbacks
):
    # The simulator in realistic mode, over HTTP: Seam programs the code only about an hour
    # before it starts, long after the policy's "3 days before".
    with time_machine.travel(datetime(2030, 6, 1, 12, tzinfo=UTC), tick=False) as clock:
        sim = start_seam_simulator(mode="realistic")
        client = SeamClient(api_key=SIMULATOR_API_KEY, endpoint=sim.url, timeout=1.0, sleep=lambda _: None)
        locks_sync(client=client)
        code = book(Lock.objects.get(seam_device_id=demo.OCEAN_BEACH_ROOM_101), arrival=date(2030, 6, 13))
        code = access_code_create(access_code_id=code.pk, client=client)
        assert code.status == Status.WAITING

        def run() -> int:
            with django_capture_on_commit_callbacks(execute=True):
                return int(guest_emails_send_due_task())

        due = sending.days_before_at(code.reservation)
        clock.move_to(due)
        assert run() == 0
        plan = plan_of(code.reservation)
        assert plan is not None
        assert plan.state == "waiting"

        while code.status == Status.WAITING:
            assert code.next_check_at is not None
            clock.move_to(code.next_check_at)
            run_due(client)
            code.refresh_from_db()
            if code.status == Status.WAITING:
                assert run() == 0, "never before the code is set"
        assert code.set_at is not None
        assert code.starts_at - code.set_at <= timedelta(hours=1)
        assert run() == 1
        [message] = guest_emails()
        assert code.code in message.body
        assert "programs door codes only shortly before check-in" in message.body
