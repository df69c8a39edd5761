from datetime import UTC, date, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from codes.models import AccessCode, AccessCodeEvent, CodeEmail
from tests.builders import make_code, make_lock, make_reservation, make_site, make_staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_sites():
    ocean = make_site("Ocean Beach Vacations")
    harbour = make_site("Harbour View", "Australia/Sydney")
    today = timezone.localdate()
    ours = make_reservation(make_lock(ocean, "Room 101"), arrival=today + timedelta(days=2), guest_name="Ana Ours")
    theirs = make_reservation(
        make_lock(harbour, "Apartment 7"), arrival=today + timedelta(days=2), guest_name="Ben Theirs"
    )
    return ocean, harbour, make_code(ours), make_code(theirs)


def test_the_home_page_asks_for_a_login(client):
    response = client.get(reverse("home"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_the_login_page_renders(client):
    response = client.get(reverse("login"))

    assert response.status_code == 200
    assert b"Staff login" in response.content


def test_staff_see_their_own_sites_reservations_and_doors_only(client, two_sites):
    ocean, _, _, _ = two_sites
    client.force_login(make_staff("demo", ocean))

    dashboard = client.get(reverse("home")).content
    doors = client.get(reverse("door_list")).content
    listing = client.get(reverse("reservation_list")).content

    assert b"Ana Ours" in dashboard
    assert b"Ben Theirs" not in dashboard
    assert b"Room 101" in doors
    assert b"Apartment 7" not in doors
    assert b"Ana Ours" in listing
    assert b"Ben Theirs" not in listing


def test_a_superuser_sees_every_site(client, two_sites):
    client.force_login(make_staff("root", superuser=True))

    response = client.get(reverse("home"))

    assert b"Ana Ours" in response.content
    assert b"Ben Theirs" in response.content


def test_the_pin_is_masked_until_revealed_and_the_reveal_is_recorded(client, two_sites):
    ocean, _, ours, _ = two_sites
    staff = make_staff("demo", ocean)
    client.force_login(staff)

    page = client.get(reverse("home")).content
    revealed = client.post(reverse("code_reveal", args=[ours.pk]), headers={"HX-Request": "true"})

    assert b"123456" not in page
    assert b"Reveal PIN" in page
    assert revealed.status_code == 200
    assert b"123456" in revealed.content
    event = AccessCodeEvent.objects.get(access_code=ours, kind=AccessCodeEvent.Kind.REVEALED)
    assert event.user == staff


def test_htmx_endpoints_of_another_sites_code_answer_404_and_reveal_nothing(client, two_sites):
    ocean, _, _, theirs = two_sites
    client.force_login(make_staff("demo", ocean))

    for name, method in [
        ("code_cell", "get"),
        ("code_reveal", "post"),
        ("code_email", "post"),
        ("code_retry", "post"),
    ]:
        response = getattr(client, method)(reverse(name, args=[theirs.pk]))
        assert response.status_code == 404, name
    assert not AccessCodeEvent.objects.filter(kind=AccessCodeEvent.Kind.REVEALED).exists()


def test_a_failed_code_shows_seams_error_in_plain_words(client, two_sites):
    ocean, _, ours, _ = two_sites
    AccessCode.objects.filter(pk=ours.pk).update(
        status=AccessCode.Status.FAILED,
        code="",
        seam_access_code_id="",
        last_error_type="dormakaba_oracode_invalid_time_range",
        last_error_message="no time slots found",
    )
    client.force_login(make_staff("demo", ocean))

    response = client.get(reverse("code_cell", args=[ours.pk]))

    assert b"dormakaba_oracode_invalid_time_range" in response.content
    assert b"no time slots found" in response.content
    assert b"Sync the doors, then retry" in response.content
    assert b"Retry code" in response.content


def test_a_code_still_waiting_polls_and_a_set_one_does_not(client, two_sites):
    ocean, _, ours, _ = two_sites
    client.force_login(make_staff("demo", ocean))

    set_cell = client.get(reverse("code_cell", args=[ours.pk])).content
    AccessCode.objects.filter(pk=ours.pk).update(status=AccessCode.Status.WAITING, code="")
    waiting_cell = client.get(reverse("code_cell", args=[ours.pk])).content

    assert b"hx-trigger" not in set_cell
    assert b'hx-trigger="every 3s"' in waiting_cell
    assert b"Waiting for the lock system" in waiting_cell


def test_the_window_is_shown_in_the_locks_local_time_with_the_zone(client, two_sites):
    ocean, _, ours, _ = two_sites
    AccessCode.objects.filter(pk=ours.pk).update(
        starts_at=datetime(2030, 11, 1, 22, 0, tzinfo=UTC), ends_at=datetime(2030, 11, 5, 19, 0, tzinfo=UTC)
    )
    client.force_login(make_staff("demo", ocean))

    response = client.get(reverse("code_cell", args=[ours.pk]))

    assert "Fri 1 Nov 15:00 → Tue 5 Nov 11:00 (America/Los_Angeles, PDT → PST)" in response.content.decode()


def test_the_reservation_list_filters_searches_and_paginates(client):
    site = make_site()
    lock = make_lock(site)
    staff = make_staff("demo", site)
    for i in range(30):
        reservation = make_reservation(lock, arrival=date(2031, 1, 1) + timedelta(days=i), guest_name=f"Guest {i:02d}")
        make_code(reservation, status=AccessCode.Status.FAILED if i == 7 else AccessCode.Status.SET)
    client.force_login(staff)

    first_page = client.get(reverse("reservation_list")).content.decode()
    failed = client.get(reverse("reservation_list"), {"state": "failed"}).content.decode()
    searched = client.get(reverse("reservation_list"), {"q": "guest 12"}).content.decode()
    ranged = client.get(
        reverse("reservation_list"), {"arrival_from": "2031-01-03", "arrival_to": "2031-01-04"}
    ).content.decode()

    # Newest arrivals first, by default.
    assert "Page 1 of 2 · 30 reservations" in first_page
    assert "Guest 05" in first_page
    assert "Guest 04" not in first_page
    assert "Guest 07" in failed
    assert "1 reservation" in failed
    assert "Guest 12" in searched
    assert "Guest 13" not in searched
    assert "Guest 02" in ranged
    assert "Guest 03" in ranged
    assert "Guest 04" not in ranged


def test_the_list_needs_a_bounded_number_of_queries(client, django_assert_max_num_queries):
    site = make_site()
    lock = make_lock(site)
    staff = make_staff("demo", site)
    for i in range(60):
        make_code(make_reservation(lock, arrival=date(2031, 1, 1) + timedelta(days=i), guest_name=f"G{i}"))
    client.force_login(staff)

    with django_assert_max_num_queries(12):
        response = client.get(reverse("reservation_list"))

    assert response.status_code == 200


def test_the_reservation_page_shows_the_codes_history_with_who_revealed_the_pin(client, two_sites):
    ocean, _, ours, theirs = two_sites
    staff = make_staff("demo", ocean)
    client.force_login(staff)
    client.post(reverse("code_reveal", args=[ours.pk]))

    page = client.get(reverse("reservation_detail", args=[ours.reservation_id])).content.decode()
    other = client.get(reverse("reservation_detail", args=[theirs.reservation_id]))

    assert "PIN revealed" in page
    assert "by demo" in page
    assert "123456" not in page
    assert other.status_code == 404


def test_the_cell_keeps_polling_while_an_email_is_on_its_way(client, two_sites):
    ocean, _, ours, _ = two_sites
    client.force_login(make_staff("demo", ocean))
    email = CodeEmail.objects.create(access_code=ours, to_address="ana@example.com")

    queued = client.get(reverse("code_cell", args=[ours.pk])).content
    CodeEmail.objects.filter(pk=email.pk).update(status=CodeEmail.Status.SENT)
    sent = client.get(reverse("code_cell", args=[ours.pk])).content

    assert b'hx-trigger="every 3s"' in queued
    assert b"Email queued" in queued
    assert b"hx-trigger" not in sent
    assert b"Email sent" in sent
