"""The pages for date changes, cancellations, the ledger, live codes per door and the
time-zone guard, as staff use them (Django's test client; the browser test covers the rest)."""

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from codes.models import AccessCode
from locks.models import Lock
from properties.models import Reservation
from tests.builders import book, first_choice, make_lock, make_site, make_staff, unit_of

pytestmark = pytest.mark.django_db

ARRIVAL = date(2030, 9, 10)


@pytest.fixture
def ocean() -> Any:
    site = make_site("Ocean Beach Vacations")
    return site, make_lock(site, "Room 101")


def created(code: AccessCode, pin: str = "123456") -> AccessCode:
    """As if Seam created and set it (these tests are about the pages, not the Seam calls)."""
    AccessCode.objects.filter(pk=code.pk).update(
        status=AccessCode.Status.SET, seam_access_code_id=f"seam-{code.pk}", code=pin, seam_status="set"
    )
    code.refresh_from_db()
    return code


def test_changing_dates_shows_what_happens_to_the_codes_then_applies_the_choice(client, ocean):
    site, lock = ocean
    code = created(book(lock, arrival=ARRIVAL, nights=5))
    client.force_login(make_staff("demo", site))
    url = reverse("reservation_change", args=[code.reservation_id])

    page = client.get(url, {"arrival": "2030-09-10", "departure": "2030-09-18"}).content.decode()

    assert "Keep the guest&#x27;s code and add 1 continuation code" in page
    assert "overlapping the current code so access never has a gap" in page
    key = first_choice(page, f"plan_{lock.pk}")

    response = client.post(url, {"arrival": "2030-09-10", "departure": "2030-09-18", f"plan_{lock.pk}": key})

    assert response.status_code == 302
    codes = AccessCode.objects.filter(reservation=code.reservation_id).order_by("starts_at")
    assert [c.pk == code.pk for c in codes] == [True, False]
    assert Reservation.objects.get(pk=code.reservation_id).departure == date(2030, 9, 18)
    detail = client.get(response["Location"]).content.decode()
    assert "Dates changed." in detail
    assert "1 new code is being created at Seam" in detail


def test_a_forged_plan_is_refused_with_a_message(client, ocean):
    site, lock = ocean
    code = created(book(lock, arrival=ARRIVAL, nights=5))
    client.force_login(make_staff("demo", site))

    response = client.post(
        reverse("reservation_change", args=[code.reservation_id]),
        {"arrival": "2030-09-10", "departure": "2030-09-18", f"plan_{lock.pk}": "extend|1||forged"},
    )

    assert response.status_code == 200
    assert "not offered for Room 101 and these dates (any more)" in response.content.decode()
    assert AccessCode.objects.count() == 1


def test_cancelling_needs_a_confirmation_and_then_lists_the_live_code(client, ocean):
    site, lock = ocean
    code = created(book(lock, arrival=ARRIVAL, nights=5))
    client.force_login(make_staff("demo", site))
    cancel = reverse("reservation_cancel", args=[code.reservation_id])

    client.post(cancel, {})
    assert Reservation.objects.get(pk=code.reservation_id).cancelled_at is None

    page = client.post(cancel, {"confirm": "yes"}, follow=True).content.decode()
    assert "Reservation cancelled. 1 live code cannot be revoked" in page

    dashboard = client.get(reverse("home")).content.decode()
    assert "1</strong> live code of cancelled or changed stays" in dashboard
    assert "1 not acknowledged yet" in dashboard

    ledger = client.get(reverse("ledger")).content.decode()
    assert "Stay cancelled" in ledger
    assert "Acknowledge" in ledger
    page = client.post(reverse("ledger_acknowledge", args=[code.pk]), follow=True).content.decode()
    assert "acknowledged. It stays listed until it ends" in page
    assert AccessCode.objects.get(pk=code.pk).acknowledged_at is not None


def test_staff_of_another_site_cannot_change_cancel_or_acknowledge(client, ocean):
    _site, lock = ocean
    code = created(book(lock, arrival=ARRIVAL, nights=5))
    AccessCode.objects.filter(pk=code.pk).update(ledger_reason="cancelled")
    client.force_login(make_staff("harbour", make_site("Harbour View", "Australia/Sydney")))

    assert client.get(reverse("reservation_change", args=[code.reservation_id])).status_code == 404
    assert (
        client.post(reverse("reservation_cancel", args=[code.reservation_id]), {"confirm": "yes"}).status_code == 404
    )
    assert client.post(reverse("ledger_acknowledge", args=[code.pk])).status_code == 404
    assert client.get(reverse("door_codes", args=[lock.pk])).status_code == 404
    assert code.reservation.guest_name not in client.get(reverse("ledger")).content.decode()
    assert Reservation.objects.get(pk=code.reservation_id).cancelled_at is None


def test_a_long_stay_shows_its_chain_before_anything_is_created(client, ocean):
    site, lock = ocean
    client.force_login(make_staff("demo", site))

    page = client.get(
        reverse("reservation_form_choices"),
        {"site": site.pk, "unit": unit_of(lock).pk, "arrival": "2030-10-20", "departure": "2031-01-03"},
    ).content.decode()

    assert "a chain of 3 codes" in page
    assert 'data-testid="chain-preview"' in page
    assert "Code 1: Sun 20 Oct 15:00 → Wed 20 Nov 11:00 (America/Los_Angeles, PDT → PST)" in page
    assert "Code 3:" in page
    assert AccessCode.objects.count() == 0


def test_a_door_whose_zones_disagree_offers_no_window_and_the_dashboard_says_why(client, ocean):
    site, lock = ocean
    Lock.objects.filter(pk=lock.pk).update(timezone="America/Denver")
    client.force_login(make_staff("demo", site))

    choices = client.get(
        reverse("reservation_form_choices"),
        {"site": site.pk, "unit": unit_of(lock).pk, "arrival": "2030-09-10", "departure": "2030-09-13"},
    ).content.decode()
    refusal = (
        "No codes can be made for Room 101 until its time zones agree. The lock&#x27;s time zone (America/Denver)"
    )
    assert refusal in choices
    assert f'name="plan_{lock.pk}"' not in choices

    dashboard = client.get(reverse("home")).content.decode()
    assert refusal in dashboard
    doors = client.get(reverse("door_list")).content.decode()
    assert "No codes are made for this door." in doors


def test_capacity_shows_on_the_doors_page_and_the_dashboard(client, ocean):
    site, lock = ocean
    lock.code_capacity = 3
    lock.save()
    for week in range(2):
        created(book(lock, arrival=ARRIVAL + timedelta(days=7 * week), nights=3), pin=f"12345{week}")
    client.force_login(make_staff("demo", site))

    doors = client.get(reverse("door_list")).content.decode()
    assert "2</strong> live codes</a> of 3" in doors
    assert "2 live codes of 3: room for only 1 more." in doors
    assert "2 live codes of 3: room for only 1 more." in client.get(reverse("home")).content.decode()
    per_door = client.get(reverse("door_codes", args=[lock.pk])).content.decode()
    assert per_door.count("data-code=") == 2


def test_the_admin_lists_ledger_codes_and_acknowledges_them(client, ocean):
    site, lock = ocean
    code = created(book(lock, arrival=ARRIVAL, nights=5))
    AccessCode.objects.filter(pk=code.pk).update(ledger_reason="moved", ledger_at=datetime(2030, 1, 1, tzinfo=UTC))
    admin_user = make_staff("root", site, superuser=True)
    client.force_login(admin_user)

    page = client.get(reverse("admin:codes_accesscode_changelist"), {"ledger_reason": "moved"}).content.decode()
    assert code.name in page
    assert client.get(reverse("admin:locks_lock_changelist")).status_code == 200
    change_page = client.get(reverse("admin:properties_reservation_change", args=[code.reservation_id]))
    assert change_page.status_code == 200
    assert 'name="departure"' not in change_page.content.decode(), "a saved stay's dates change on the dashboard"
    assert 'name="departure"' in client.get(reverse("admin:properties_reservation_add")).content.decode()

    response = client.post(
        reverse("admin:codes_accesscode_changelist"),
        {"action": "acknowledge_ledger", ACTION_CHECKBOX_NAME: [code.pk]},
        follow=True,
    )
    assert "1 code(s) acknowledged" in response.content.decode()
    code.refresh_from_db()
    assert code.acknowledged_by == admin_user


def test_an_extension_asked_too_late_for_a_continuation_says_what_to_do(client, ocean):
    site, lock = ocean
    code = created(book(lock, arrival=ARRIVAL, nights=5))
    staff = make_staff("demo", site)

    # 16:00 in Los Angeles on the last night: the last check-in before the code ends has passed.
    with time_machine.travel(datetime(2030, 9, 14, 23, tzinfo=UTC), tick=False):
        client.force_login(staff)
        page = client.get(
            reverse("reservation_change", args=[code.reservation_id]),
            {"arrival": "2030-09-10", "departure": "2030-09-17"},
        ).content.decode()

    assert "The guest&#x27;s code works until Sun 15 Sep 11:00 (America/Los_Angeles, PDT)" in page
    assert "Book the extra nights as a new reservation" in page
    assert 'name="plan_' not in page


def test_shortening_says_so_in_one_sentence(client, ocean):
    site, lock = ocean
    code = created(book(lock, arrival=ARRIVAL, nights=5))
    client.force_login(make_staff("demo", site))
    url = reverse("reservation_change", args=[code.reservation_id])
    shorter = {"arrival": "2030-09-10", "departure": "2030-09-13"}
    key = first_choice(client.get(url, shorter).content.decode(), f"plan_{lock.pk}")

    detail = client.post(url, {**shorter, f"plan_{lock.pk}": key}, follow=True).content.decode()

    assert "no new code is needed (a code cannot be shortened)." in detail
    assert ").." not in detail
