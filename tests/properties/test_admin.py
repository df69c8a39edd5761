"""The sites and reservations admin: a staff user sees, chooses and changes their own sites only,
and a saved reservation keeps its site and door."""

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse

from properties.models import Reservation, Site
from tests.builders import make_lock, make_reservation, make_site, make_staff, make_unit

pytestmark = pytest.mark.django_db


def grant(user: User, *codenames: str) -> None:
    for codename in codenames:
        user.user_permissions.add(Permission.objects.get(codename=codename))


@pytest.fixture
def ours_and_theirs():
    """A stay at Ocean Beach (the user's site) and one at Harbour View."""
    ours = make_reservation(make_lock(make_site("Ocean Beach Vacations"), "Room 101"), guest_name="Ana Ours")
    theirs = make_reservation(make_lock(make_site("Harbour View"), "Loft 7"), guest_name="Ben Theirs")
    return ours, theirs


def staff_of(reservation: Reservation, *codenames: str) -> User:
    user = make_staff("demo", reservation.site)
    grant(user, *codenames)
    return user


def form_post(reservation: Reservation, **changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "site": reservation.site_id,
        "unit": reservation.unit_id,
        "guest_name": reservation.guest_name,
        "guest_email": reservation.guest_email,
        "arrival": reservation.arrival.isoformat(),
        "departure": reservation.departure.isoformat(),
    }
    data.update(changes)
    return data


def test_a_staff_user_sees_only_their_sites_and_their_stays(client, ours_and_theirs):
    ours, _ = ours_and_theirs
    client.force_login(staff_of(ours, "view_site", "view_reservation"))

    sites = client.get(reverse("admin:properties_site_changelist"))
    stays = client.get(reverse("admin:properties_reservation_changelist"))

    assert [s.pk for s in sites.context["cl"].result_list] == [ours.site_id]
    assert [r.pk for r in stays.context["cl"].result_list] == [ours.pk]
    assert "Ana Ours" in stays.content.decode()
    # The site filter lists the user's sites only.
    assert "Ben Theirs" not in stays.content.decode()
    assert "Harbour View" not in stays.content.decode()
    assert "Harbour View" not in sites.content.decode()


def test_a_staff_user_gets_no_change_page_for_another_sites_site_or_stay(client, ours_and_theirs):
    ours, theirs = ours_and_theirs
    client.force_login(staff_of(ours, "view_site", "change_site", "view_reservation", "change_reservation"))

    for url_name, mine, other in [
        ("admin:properties_site_change", ours.site_id, theirs.site_id),
        ("admin:properties_reservation_change", ours.pk, theirs.pk),
    ]:
        assert client.get(reverse(url_name, args=[mine])).status_code == 200
        response = client.get(reverse(url_name, args=[other]))
        assert response.status_code == 302, url_name
        assert response.url == reverse("admin:index")


def test_a_forged_edit_of_another_sites_stay_changes_nothing(client, ours_and_theirs):
    ours, theirs = ours_and_theirs
    client.force_login(staff_of(ours, "view_reservation", "change_reservation"))

    client.post(
        reverse("admin:properties_reservation_change", args=[theirs.pk]), form_post(theirs, guest_name="Forged")
    )

    theirs.refresh_from_db()
    assert theirs.guest_name == "Ben Theirs"


def test_adding_a_stay_offers_only_the_users_sites_units_and_doors(client, ours_and_theirs):
    ours, _ = ours_and_theirs
    client.force_login(staff_of(ours, "view_site", "view_unit", "view_lock", "view_reservation", "add_reservation"))

    form = client.get(reverse("admin:properties_reservation_add")).context["adminform"].form
    autocomplete = client.get(
        reverse("admin:autocomplete"),
        {"app_label": "properties", "model_name": "reservation", "field_name": "site", "term": ""},
    ).json()
    units = client.get(
        reverse("admin:autocomplete"),
        {"app_label": "properties", "model_name": "reservation", "field_name": "unit", "term": ""},
    ).json()
    door_popup = client.get(reverse("admin:locks_lock_changelist"), {"_to_field": "id", "_popup": "1"})

    assert list(form.fields["site"].queryset) == [ours.site]
    assert list(form.fields["unit"].queryset) == [ours.unit]
    assert [r["text"] for r in autocomplete["results"]] == ["Ocean Beach Vacations"]
    assert [r["text"] for r in units["results"]] == ["Room 101"]
    assert [lock.pk for lock in door_popup.context["cl"].result_list] == [ours.unit.doors.get().pk]


def test_a_stay_forged_for_another_sites_unit_is_refused(client, ours_and_theirs):
    ours, theirs = ours_and_theirs
    client.force_login(staff_of(ours, "view_reservation", "add_reservation"))

    response = client.post(reverse("admin:properties_reservation_add"), form_post(theirs, guest_name="Forged"))

    assert response.status_code == 200
    assert set(response.context["adminform"].form.errors) == {"site", "unit"}
    assert not Reservation.objects.filter(guest_name="Forged").exists()

    client.post(reverse("admin:properties_reservation_add"), form_post(ours, guest_name="Allowed"))
    assert Reservation.objects.get(guest_name="Allowed").unit == ours.unit


def test_a_saved_stays_site_and_unit_are_read_only(client, ours_and_theirs):
    ours, _ = ours_and_theirs
    other_unit = make_unit(ours.site, "Room 102", make_lock(ours.site, "Room 102"))
    client.force_login(make_staff("root", superuser=True))

    change_page = client.get(reverse("admin:properties_reservation_change", args=[ours.pk])).content.decode()
    add_page = client.get(reverse("admin:properties_reservation_add")).content.decode()
    client.post(
        reverse("admin:properties_reservation_change", args=[ours.pk]),
        form_post(ours, unit=other_unit.pk, guest_name="Ana Renamed"),
    )

    assert 'name="unit"' not in change_page
    assert 'name="site"' not in change_page
    assert "Room 101" in change_page
    assert 'name="unit"' in add_page
    assert 'name="site"' in add_page
    ours.refresh_from_db()
    assert ours.guest_name == "Ana Renamed"
    assert ours.unit.name == "Room 101"


def test_only_a_superuser_changes_who_is_staff_of_a_site(client, ours_and_theirs):
    ours, theirs = ours_and_theirs
    make_staff("harbour", theirs.site)
    staff = staff_of(ours, "view_site", "change_site")
    client.force_login(staff)

    page = client.get(reverse("admin:properties_site_change", args=[ours.site_id])).content.decode()
    client.post(
        reverse("admin:properties_site_change", args=[ours.site_id]),
        {
            "name": "Ocean Beach Vacations",
            "timezone": "America/Los_Angeles",
            "staff": [staff.pk, User.objects.get(username="harbour").pk],
        },
    )

    assert 'name="staff"' not in page
    assert "harbour" not in page
    assert list(Site.objects.get(pk=ours.site_id).staff.all()) == [staff]

    client.force_login(make_staff("root", superuser=True))
    assert 'name="staff"' in client.get(reverse("admin:properties_site_change", args=[ours.site_id])).content.decode()


def test_a_superuser_sees_every_site_and_stay(client, ours_and_theirs):
    client.force_login(make_staff("root", superuser=True))

    sites = client.get(reverse("admin:properties_site_changelist"))
    stays = client.get(reverse("admin:properties_reservation_changelist"))

    assert sites.context["cl"].result_count == 2
    assert stays.context["cl"].result_count == 2
