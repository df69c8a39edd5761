"""Correcting a guest's name and email: recorded on the codes, never renaming them, and never
emailing on its own."""

from datetime import date

import pytest
from django.utils import timezone

from codes.emails import code_email_request
from codes.errors import Refused
from codes.models import AccessCodeEvent, CodeEmail
from codes.stays import reservation_update_guest
from properties.models import Reservation
from tests.builders import make_code, make_lock, make_reservation, make_site, make_staff

pytestmark = pytest.mark.django_db

Kind = AccessCodeEvent.Kind


@pytest.fixture
def stay() -> Reservation:
    return make_reservation(
        make_lock(make_site()), arrival=date(2030, 9, 10), guest_name="Ana Souza", guest_email="ana@example.com"
    )


def test_it_saves_the_corrected_details_and_returns_what_changed(stay):
    staff = make_staff("demo", stay.site)

    correction = reservation_update_guest(
        reservation=stay, guest_name="Ana Sousa", guest_email="ana.sousa@example.com", user=staff
    )

    stay.refresh_from_db()
    assert (stay.guest_name, stay.guest_email) == ("Ana Sousa", "ana.sousa@example.com")
    assert correction.changes == {
        "guest_name": ("Ana Souza", "Ana Sousa"),
        "guest_email": ("ana@example.com", "ana.sousa@example.com"),
    }
    assert correction.earlier_email is None


def test_it_records_the_change_in_each_current_codes_history_only(stay):
    staff = make_staff("demo", stay.site)
    current = make_code(stay)
    continuation = make_code(stay, name=f"R{stay.pk} Ana Souza #2", seam_access_code_id="seam-2nd")
    superseded = make_code(
        stay, name=f"R{stay.pk} Ana Souza #3", seam_access_code_id="seam-3rd", superseded_at=timezone.now()
    )

    reservation_update_guest(reservation=stay, guest_name="Ana Sousa", guest_email="ana@example.com", user=staff)

    events = AccessCodeEvent.objects.filter(kind=Kind.GUEST_CHANGED)
    assert sorted(event.access_code_id for event in events) == [current.pk, continuation.pk]
    assert not events.filter(access_code=superseded).exists()
    event = events.get(access_code=current)
    assert event.user == staff
    assert event.message == "Name Ana Souza → Ana Sousa. The code keeps its name at Seam."


def test_the_codes_keep_the_names_seam_knows_them_by(stay):
    code = make_code(stay)
    name_before = code.name

    reservation_update_guest(reservation=stay, guest_name="Ana Sousa", guest_email="ana@example.com")

    code.refresh_from_db()
    assert code.name == name_before == f"R{stay.pk} Ana Souza"


def test_a_cancelled_stay_is_refused_and_left_as_it_was(stay):
    code = make_code(stay)
    Reservation.objects.filter(pk=stay.pk).update(cancelled_at=timezone.now())

    with pytest.raises(Refused, match="cancelled"):
        reservation_update_guest(reservation=stay, guest_name="Someone Else", guest_email="else@example.com")

    stay.refresh_from_db()
    assert (stay.guest_name, stay.guest_email) == ("Ana Souza", "ana@example.com")
    assert not AccessCodeEvent.objects.filter(access_code=code, kind=Kind.GUEST_CHANGED).exists()


def test_the_same_details_again_change_and_record_nothing(stay):
    code = make_code(stay)

    correction = reservation_update_guest(reservation=stay, guest_name=" Ana Souza ", guest_email="ana@example.com")

    assert correction.changes == {}
    assert not AccessCodeEvent.objects.filter(access_code=code, kind=Kind.GUEST_CHANGED).exists()


def test_a_new_address_after_a_sent_email_names_the_email_and_sends_nothing(stay):
    code = make_code(stay)
    sent = CodeEmail.objects.create(access_code=code, to_address="ana@example.com", status=CodeEmail.Status.SENT)

    correction = reservation_update_guest(reservation=stay, guest_name="Ana Souza", guest_email="ana2@example.com")

    assert correction.earlier_email == sent
    assert CodeEmail.objects.count() == 1


def test_an_email_that_failed_or_went_to_the_new_address_is_not_named(stay):
    code = make_code(stay)
    CodeEmail.objects.create(access_code=code, to_address="ana@example.com", status=CodeEmail.Status.FAILED)

    after_failure = reservation_update_guest(reservation=stay, guest_name="Ana Souza", guest_email="ana2@example.com")
    CodeEmail.objects.create(access_code=code, to_address="ana2@example.com", status=CodeEmail.Status.SENT)
    after_name_only = reservation_update_guest(
        reservation=stay, guest_name="Ana Sousa", guest_email="ana2@example.com"
    )

    assert after_failure.earlier_email is None
    assert after_name_only.earlier_email is None


def test_a_resend_after_the_correction_goes_to_the_new_address(stay):
    code = make_code(stay)
    CodeEmail.objects.create(access_code=code, to_address="ana@example.com", status=CodeEmail.Status.SENT)
    reservation_update_guest(reservation=stay, guest_name="Ana Souza", guest_email="ana2@example.com")

    email = code_email_request(access_code=code, resend=True)

    assert email.to_address == "ana2@example.com"
    assert email.is_resend


def test_the_guests_language_changes_on_the_record_and_none_leaves_it(stay):
    code = make_code(stay)

    unchanged = reservation_update_guest(reservation=stay, guest_name="Ana Souza", guest_email="ana@example.com")
    correction = reservation_update_guest(
        reservation=stay, guest_name="Ana Souza", guest_email="ana@example.com", language="pt"
    )

    assert unchanged.changes == {}
    assert correction.changes == {"language": ("", "pt")}
    stay.refresh_from_db()
    assert stay.guest_language == "pt"
    event = AccessCodeEvent.objects.get(access_code=code, kind=Kind.GUEST_CHANGED)
    assert event.message == "Language the site's → Português. The code keeps its name at Seam."
