"""Stays that arrive on their own (a PMS through the API, a channel's calendar feed), against the
simulator over HTTP: each door gets its preselected window; a stay no door can take is kept,
flagged with its reasons and alerted to staff once, never dropped; the same stay twice is one."""

from datetime import timedelta

import pytest
from django.core import mail

from codes.errors import Refused
from codes.imports import reservation_follow_dates, reservation_import
from codes.models import AccessCode, StaffAlert
from codes.offers import stay_offer
from codes.stays import reservation_cancel, reservation_codes_create
from properties.models import Reservation
from tests.builders import make_staff
from tests.codes import test_units
from tests.codes.test_units import ARRIVAL, FRONT_DOOR, ROOM_101, book, codes_by_door, settle

pytestmark = pytest.mark.django_db

Source = Reservation.Source

# The unit of two doors and the clock of the units tests: the same building, the same year.
clock, client, doors, suite = test_units.clock, test_units.client, test_units.doors, test_units.suite


def arrive(unit, *, external_id="HMABC123", nights=3, arrival=ARRIVAL, **kw):
    return reservation_import(
        unit=unit,
        guest_name=kw.pop("guest_name", "Airbnb guest HMABC123"),
        guest_email=kw.pop("guest_email", ""),
        arrival=arrival,
        departure=arrival + timedelta(days=nights),
        external_id=external_id,
        source=kw.pop("source", Source.FEED),
        **kw,
    )


def test_a_stay_that_arrives_gets_the_preselected_window_on_every_door(suite, client, clock):
    offer = stay_offer(unit=suite, arrival=ARRIVAL, departure=ARRIVAL + timedelta(days=3))
    imported = arrive(suite)
    settle(client, clock)

    stay = imported.reservation
    assert imported.created
    assert not imported.needs_attention
    assert (stay.source, stay.external_id, stay.guest_email) == (Source.FEED, "HMABC123", "")
    chosen = {}
    for door in offer.doors:
        plan = door.plan(None)
        assert plan is not None
        chosen[door.lock.seam_device_id] = plan.slot_name
    codes = codes_by_door(stay)
    assert {device: [code.slot_name for code in door_codes] for device, door_codes in codes.items()} == {
        device: [slot] for device, slot in chosen.items()
    }
    assert all(code.status == AccessCode.Status.SET for door_codes in codes.values() for code in door_codes)


def test_the_same_stay_arriving_again_is_the_stay_booked_before(suite):
    first = arrive(suite, source=Source.API)

    again = arrive(suite, guest_name="Someone else", source=Source.FEED)

    assert not again.created
    assert again.reservation.pk == first.reservation.pk
    assert again.reservation.guest_name == "Airbnb guest HMABC123", "the known stay, as it is"
    assert Reservation.objects.count() == 1
    assert AccessCode.objects.count() == 2, "no second code on any door"


def test_a_stay_no_door_can_take_is_kept_flagged_and_staff_are_emailed_once(
    suite, doors, settings, django_capture_on_commit_callbacks
):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    room = doors[ROOM_101]
    staff = make_staff("maria", room.site)
    staff.email = "maria@example.com"
    staff.save()
    room.can_program_offline_access_codes = False
    room.save()

    with django_capture_on_commit_callbacks(execute=True):
        imported = arrive(suite)
        arrive(suite)  # the next sync sees it again

    stay = imported.reservation
    assert imported.created
    assert imported.needs_attention
    assert "Room 101: Seam says Room 101 cannot take offline codes" in stay.attention
    assert not AccessCode.objects.exists(), "never half a stay"
    alert = StaffAlert.objects.get()
    assert alert.kind == StaffAlert.Kind.STAY_NEEDS_ATTENTION
    assert alert.resolved_at is None
    assert [message.to for message in mail.outbox] == [["maria@example.com"]]
    assert "Airbnb guest HMABC123" in mail.outbox[0].body
    assert "Room 101" in mail.outbox[0].body

    # Staff mend the door, then create the codes: the flag and the alert go.
    room.can_program_offline_access_codes = True
    room.save()
    reservation_codes_create(reservation=stay)
    stay.refresh_from_db()
    assert not stay.needs_attention
    assert StaffAlert.objects.get().resolved_at is not None
    assert set(codes_by_door(stay)) == {FRONT_DOOR, ROOM_101}


def test_a_stay_overlapping_another_on_the_units_own_door_waits_for_staff(suite):
    book(suite, guest_name="Walk-in guest")

    imported = arrive(suite, external_id="OVERLAP-1")

    assert imported.needs_attention
    assert "Walk-in guest" in imported.reservation.attention
    assert not imported.reservation.access_codes.exists()


def test_dates_no_stay_can_have_are_refused_and_nothing_is_kept(suite):
    with pytest.raises(Refused, match="departure date"):
        arrive(suite, nights=0)
    with pytest.raises(Refused, match="at most"):
        arrive(suite, nights=2000)

    assert not Reservation.objects.exists()
    assert not StaffAlert.objects.exists()


def test_a_window_key_the_caller_chose_that_is_not_offered_is_refused(suite, doors):
    with pytest.raises(Refused) as refused:
        arrive(suite, plan_keys={doors[ROOM_101].pk: "no-such-plan"})

    assert refused.value.field == f"plan_{doors[ROOM_101].pk}"
    assert not Reservation.objects.exists()


def test_the_channel_moving_a_stay_goes_through_the_date_change_planner(suite, client, clock):
    stay = arrive(suite).reservation
    settle(client, clock)

    moved = reservation_follow_dates(reservation=stay, arrival=ARRIVAL, departure=ARRIVAL + timedelta(days=5))
    settle(client, clock)

    assert moved.departure == ARRIVAL + timedelta(days=5)
    assert not moved.needs_attention
    for door_codes in codes_by_door(stay).values():
        first, continuation = door_codes
        assert continuation.status == AccessCode.Status.SET
        assert continuation.starts_at < first.ends_at, "the guest's code continues without a gap"


def test_a_move_that_cannot_be_made_keeps_the_stay_and_flags_it(suite, client, clock):
    stay = arrive(suite).reservation
    settle(client, clock)

    kept = reservation_follow_dates(reservation=stay, arrival=ARRIVAL, departure=ARRIVAL + timedelta(days=2000))

    assert (kept.arrival, kept.departure) == (ARRIVAL, ARRIVAL + timedelta(days=3))
    assert "The channel moved this stay to" in kept.attention
    assert "at most" in kept.attention
    assert StaffAlert.objects.filter(kind=StaffAlert.Kind.STAY_NEEDS_ATTENTION).count() == 1


def test_a_flagged_stay_without_codes_that_moves_to_workable_dates_gets_its_codes(suite, doors):
    room = doors[ROOM_101]
    room.can_program_offline_access_codes = False
    room.save()
    stay = arrive(suite).reservation
    room.can_program_offline_access_codes = True
    room.save()

    moved = reservation_follow_dates(reservation=stay, arrival=ARRIVAL, departure=ARRIVAL + timedelta(days=4))

    assert moved.departure == ARRIVAL + timedelta(days=4)
    assert not moved.needs_attention
    assert set(codes_by_door(stay)) == {FRONT_DOOR, ROOM_101}
    assert StaffAlert.objects.get().resolved_at is not None


def test_cancelling_a_flagged_stay_clears_its_flag_and_alert(suite, doors):
    room = doors[ROOM_101]
    room.can_program_offline_access_codes = False
    room.save()
    stay = arrive(suite).reservation

    reservation_cancel(reservation=stay)

    stay.refresh_from_db()
    assert stay.is_cancelled
    assert not stay.needs_attention
    assert StaffAlert.objects.get().resolved_at is not None


def test_a_stay_in_a_unit_without_doors_waits_for_staff(doors):
    from tests.builders import make_unit

    empty = make_unit(doors[ROOM_101].site, "Garden room")

    imported = arrive(empty, external_id="NO-DOORS-1")

    assert imported.needs_attention
    assert "Garden room has no doors yet" in imported.reservation.attention
    assert not imported.reservation.access_codes.exists()
