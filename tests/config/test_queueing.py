"""Task priorities on the real Redis broker, through the app's own code paths.

An import queues thousands of creates at once, and webhooks queue status checks behind them. A
create that finds its door's budget spent is queued again for its turn ahead of that backlog
(``config.queueing.AHEAD_PRIORITY``), so that the worker holds it until then rather than
reaching it only once the backlog is worked off, long after its turn.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from codes.creating import access_code_create
from codes.models import AccessCode, SeamCreateCall
from codes.tasks import access_code_create_task
from codes.webhooks import webhook_receive
from config.celery import app as celery_app
from locks.seam import SeamClient
from tests.builders import make_code, make_lock, make_reservation, make_site

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

Status = AccessCode.Status


def taken_in_order(queue: str, count: int) -> list[tuple[str, str]]:
    """(task name, its arguments) of the next ``count`` messages a consumer of ``queue`` is
    handed, in that order."""
    with celery_app.connection_for_read() as connection:
        consumer = connection.SimpleQueue(queue)
        try:
            taken = []
            for _ in range(count):
                message = consumer.get(timeout=5)
                taken.append((message.headers["task"].rsplit(".", 1)[-1], message.headers["argsrepr"]))
                message.ack()
            return taken
        finally:
            consumer.close()


def test_a_create_handed_back_for_its_turn_is_taken_before_the_backlog_queued_before_it(celery_queue):
    lock = make_lock(make_site())
    now = timezone.now()
    # The door's budget is spent: ten creates sent within the minute.
    sent = make_code(make_reservation(lock), status=Status.WAITING)
    SeamCreateCall.objects.bulk_create(
        SeamCreateCall(lock=lock, access_code=sent, sent_at=now - timedelta(seconds=s)) for s in range(10)
    )
    # An import's backlog, queued as every booking queues it...
    unsent = {"status": Status.PENDING, "code": "", "seam_access_code_id": ""}
    backlog = [make_code(make_reservation(lock, guest_name=f"Guest {n}"), **unsent) for n in range(3)]
    for code in backlog:
        access_code_create_task.delay(code.pk)
    # ...and the status check a webhook asks for.
    event = {"event_type": "access_code.set_on_device", "access_code_id": sent.seam_access_code_id}
    webhook_receive(svix_id="msg_1", payload=event)

    # The first of the backlog, run by a worker, finds no slot free and is handed back for its
    # turn (no call to Seam is made: nothing answers at that endpoint).
    handed_back = access_code_create(
        access_code_id=backlog[0].pk, client=SeamClient(api_key="unused", endpoint="http://127.0.0.1:9", timeout=1)
    )
    assert handed_back.status == Status.PENDING

    assert taken_in_order(celery_queue, 5) == [
        ("access_code_create_task", f"({backlog[0].pk},)"),
        *[("access_code_create_task", f"({code.pk},)") for code in backlog],
        ("access_code_refresh_task", f"({sent.pk},)"),
    ]
