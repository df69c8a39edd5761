"""The task queue's broker stops answering: nothing asked for is lost, nobody sees a 500, and
the sweep queues the work once the broker is back.

The broker is made unreachable for real: Celery is pointed at a closed port, so queueing fails
the way it does when Redis is down (kombu's OperationalError after its retries)."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from codes import emails, sweeping
from codes.models import AccessCode, CodeEmail
from codes.rate_limit import CLAIM_LEASE
from codes.tasks import access_codes_sweep_task
from config.celery import app as celery_app
from locks.models import Lock
from locks.seam import SeamClient
from locks.services import locks_sync
from simulator import demo
from tests.builders import book, first_choice, make_lock, make_site, make_staff, unit_of
from tests.fixtures.celery_worker import wait_for
from tests.fixtures.simulator import SIMULATOR_API_KEY

pytestmark = pytest.mark.django_db(transaction=True)

CLOSED_PORT_BROKER = "redis://127.0.0.1:1/0"


@contextmanager
def broker_unreachable() -> Iterator[None]:
    saved = celery_app.conf.broker_url, celery_app.conf.broker_write_url
    celery_app.conf.broker_url = celery_app.conf.broker_write_url = CLOSED_PORT_BROKER
    # The app caches its connection pool and producers: drop them so the closed port is used.
    celery_app._pool = None
    del celery_app.amqp
    try:
        yield
    finally:
        celery_app.conf.broker_url, celery_app.conf.broker_write_url = saved
        celery_app._pool = None
        del celery_app.amqp


def choose_window(client, stay, door):
    page = client.get(reverse("reservation_form_choices"), stay).content.decode()
    return first_choice(page, f"plan_{door.pk}")


def test_a_booking_while_the_broker_is_down_is_saved_once_and_says_its_code_follows(client):
    site = make_site()
    door = make_lock(site, "Room 101")
    client.force_login(make_staff("demo", site))
    arrival = timezone.now().date() + timedelta(days=30)
    stay = {"site": site.pk, "unit": unit_of(door).pk, "arrival": arrival, "departure": arrival + timedelta(days=3)}
    plan = {f"plan_{door.pk}": choose_window(client, stay, door)}
    form = {**stay, **plan, "guest_name": "Ana", "guest_email": "ana@example.com"}

    with broker_unreachable():
        response = client.post(reverse("reservation_create"), form)

    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert "will be created at Seam as soon as it is back" in page
    assert "Do not book it again" in page
    [code] = AccessCode.objects.all()
    assert code.status == AccessCode.Status.PENDING
    # Its task never reached the queue: the sweep queues it once that is overdue.
    assert sweeping.access_codes_due(now=timezone.now()) == []
    assert sweeping.access_codes_due(now=timezone.now() + CLAIM_LEASE + timedelta(seconds=1)) == [(code.pk, "create")]


@pytest.mark.services
def test_a_code_and_an_email_whose_tasks_were_lost_reach_a_worker_once_the_broker_is_back(
    client, celery_queue, start_celery_worker, start_seam_simulator, smtp_server
):
    sim = start_seam_simulator(mode="quick", setting_after=timedelta(seconds=0.5), set_after=timedelta(seconds=1))
    locks_sync(client=SeamClient(api_key=SIMULATOR_API_KEY, endpoint=sim.url, timeout=5.0))
    door = Lock.objects.get(seam_device_id=demo.OCEAN_BEACH_ROOM_101)
    client.force_login(make_staff("demo", door.site))
    emailed = book(door, arrival=timezone.now().date() + timedelta(days=40))
    AccessCode.objects.filter(pk=emailed.pk).update(
        status=AccessCode.Status.SET, code="482913", seam_access_code_id="made-earlier"
    )

    with broker_unreachable():
        code = book(door, arrival=timezone.now().date() + timedelta(days=30))
        response = client.post(reverse("code_email", args=[emailed.pk]))

    assert response.status_code == 200
    assert "as soon as the task queue answers again" in response.content.decode()
    [email] = CodeEmail.objects.all()
    assert email.status == CodeEmail.Status.QUEUED
    start_celery_worker(
        seam_endpoint=sim.url,
        seam_api_key=SIMULATOR_API_KEY,
        SEAM_TIMEOUT_SECONDS="5",
        EMAIL_URL=f"smtp://{smtp_server.host}:{smtp_server.port}",
    )
    # The beat's sweep, once the lost tasks are overdue, queues each again.
    overdue = max(CLAIM_LEASE, emails.QUEUED_GRACE) + timedelta(seconds=1)
    with time_machine.travel(timezone.now() + overdue, tick=False):
        access_codes_sweep_task()

    wait_for(lambda: CodeEmail.objects.get(pk=email.pk).status == CodeEmail.Status.SENT)
    wait_for(lambda: AccessCode.objects.get(pk=code.pk).seam_access_code_id != "")
    assert [c["name"] for c in sim.access_codes(demo.OCEAN_BEACH_ROOM_101)] == [code.name]
    assert len(smtp_server.messages) == 1


def test_a_lost_email_is_queued_again_once_per_grace_period_not_at_every_sweep():
    site = make_site()
    code = book(make_lock(site), arrival=timezone.now().date() + timedelta(days=30))
    AccessCode.objects.filter(pk=code.pk).update(status=AccessCode.Status.SET, code="482913")
    with broker_unreachable():
        email = emails.code_email_request(access_code=code)

    with broker_unreachable():
        assert emails.code_emails_requeue_lost(now=timezone.now()) == []
        later = timezone.now() + emails.QUEUED_GRACE + timedelta(seconds=1)
        assert emails.code_emails_requeue_lost(now=later) == [email.pk]
        assert emails.code_emails_requeue_lost(now=later + timedelta(seconds=10)) == []
        assert emails.code_emails_requeue_lost(now=later + emails.QUEUED_GRACE + timedelta(seconds=1)) == [email.pk]
