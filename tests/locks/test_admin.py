from datetime import UTC, datetime, timedelta

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission, User
from django.urls import reverse

from codes.models import AccessCode, AccessCodeEvent, WebhookDelivery
from locks.models import Lock
from properties.models import Unit
from tests.builders import make_lock, make_reservation, make_site, make_staff, make_unit
from tests.fixtures.simulator import SIMULATOR_API_KEY

pytestmark = pytest.mark.django_db

APPS = ["properties", "locks", "codes"]


def test_every_model_of_the_app_is_in_the_admin():
    missing = [
        model.__name__
        for label in APPS
        for model in apps.get_app_config(label).get_models()
        if model not in admin.site._registry
    ]
    assert missing == []


def test_every_admin_page_renders_for_a_superuser(client):
    site = make_site()
    lock = make_lock(site)
    reservation = make_reservation(lock)
    start = datetime(2030, 9, 10, 22, tzinfo=UTC)
    code = AccessCode.objects.create(
        reservation=reservation,
        lock=lock,
        name="R1 Ana",
        starts_at=start,
        ends_at=start + timedelta(days=3),
        timezone="America/Los_Angeles",
        code="654321",
    )
    AccessCodeEvent.objects.create(access_code=code, kind=AccessCodeEvent.Kind.REQUESTED)
    # Seam's access_code.set_on_device event carries the PIN.
    WebhookDelivery.objects.create(svix_id="msg_1", event_type="access_code.set_on_device", payload={"code": "654321"})
    client.force_login(make_staff("root", superuser=True))

    for label in APPS:
        for model in apps.get_app_config(label).get_models():
            meta = model._meta
            changelist = client.get(reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"))
            assert changelist.status_code == 200, meta.label
            obj = model._default_manager.first()
            if obj is not None:
                change = client.get(reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk]))
                assert change.status_code == 200, meta.label
                # The PIN is revealed on the dashboard only, where it is recorded.
                assert b"654321" not in change.content


def test_time_slots_are_shown_as_a_table_not_json(client):
    lock = make_lock(make_site())
    client.force_login(make_staff("root", superuser=True))

    response = client.get(reverse("admin:locks_lock_change", args=[lock.pk]))

    assert b"<th>Check-in</th>" in response.content
    assert b"15:00 America/Los_Angeles" in response.content
    assert b"hourly-bound" in response.content


def test_the_sync_button_imports_the_doors_from_the_simulator(client, seam_simulator, settings):
    settings.SEAM_API_KEY = SIMULATOR_API_KEY
    settings.SEAM_ENDPOINT = seam_simulator.url
    client.force_login(make_staff("root", superuser=True))

    response = client.post(reverse("admin:locks_lock_sync"), follow=True)

    assert response.status_code == 200
    assert Lock.objects.filter(name="Room 101").exists()
    assert b"door(s) imported" in response.content
    assert b"time zone mismatch on: Cabin 7" in response.content


def test_the_sync_button_shows_a_seam_error_instead_of_failing(client, settings):
    settings.SEAM_API_KEY = "seam_wrong"
    settings.SEAM_ENDPOINT = "http://127.0.0.1:9"
    client.force_login(make_staff("root", superuser=True))

    response = client.post(reverse("admin:locks_lock_sync"), follow=True)

    assert response.status_code == 200
    assert b"Could not read the doors from Seam" in response.content


def test_retrying_failed_codes_from_the_admin_requeues_only_those_seam_never_created(client):
    lock = make_lock(make_site())
    start = datetime(2030, 9, 10, 22, tzinfo=UTC)
    never_created = AccessCode.objects.create(
        reservation=make_reservation(lock),
        lock=lock,
        name="R1",
        starts_at=start,
        ends_at=start + timedelta(days=3),
        timezone="America/Los_Angeles",
        status=AccessCode.Status.FAILED,
        last_error_type="invalid_input",
    )
    client.force_login(make_staff("root", superuser=True))

    client.post(
        reverse("admin:codes_accesscode_changelist"),
        {"action": "retry_failed", "_selected_action": [never_created.pk]},
    )

    never_created.refresh_from_db()
    assert never_created.status == AccessCode.Status.PENDING
    assert never_created.last_error_type == ""


def grant(user: User, *codenames: str) -> None:
    for codename in codenames:
        user.user_permissions.add(Permission.objects.get(codename=codename))


@pytest.fixture
def ours_and_theirs():
    """A door at Ocean Beach (the user's site) and one at Harbour View."""
    return make_lock(make_site("Ocean Beach Vacations"), "Room 101"), make_lock(make_site("Harbour View"), "Loft 7")


def test_a_staff_user_sees_only_their_sites_doors(client, ours_and_theirs):
    ours, theirs = ours_and_theirs
    staff = make_staff("demo", ours.site)
    grant(staff, "view_lock", "change_lock")
    client.force_login(staff)

    response = client.get(reverse("admin:locks_lock_changelist"))
    other = client.get(reverse("admin:locks_lock_change", args=[theirs.pk]))

    page = response.content.decode()
    assert [lock.pk for lock in response.context["cl"].result_list] == [ours.pk]
    # Nor in the site filter.
    assert "Harbour View" not in page
    assert client.get(reverse("admin:locks_lock_change", args=[ours.pk])).status_code == 200
    assert other.status_code == 302
    assert other.url == reverse("admin:index")


def test_a_door_is_added_to_the_users_own_sites_only_and_stays_there(client, ours_and_theirs):
    ours, theirs = ours_and_theirs
    staff = make_staff("demo", ours.site, theirs.site)
    make_site("Hill Cabins")
    grant(staff, "view_lock", "change_lock", "add_lock")
    client.force_login(staff)

    add_form = client.get(reverse("admin:locks_lock_add")).context["adminform"].form
    change_page = client.get(reverse("admin:locks_lock_change", args=[ours.pk])).content.decode()
    client.post(reverse("admin:locks_lock_change", args=[ours.pk]), {"name": "Room 101b", "site": theirs.site_id})

    assert list(add_form.fields["site"].queryset) == [theirs.site, ours.site]
    assert 'name="site"' not in change_page
    ours.refresh_from_db()
    assert ours.name == "Room 101b"
    assert ours.site.name == "Ocean Beach Vacations"


def test_only_a_superuser_can_sync_the_doors_of_the_whole_workspace(client, ours_and_theirs, settings):
    ours, _ = ours_and_theirs
    settings.SEAM_API_KEY = "seam_wrong"
    settings.SEAM_ENDPOINT = "http://127.0.0.1:9"
    staff = make_staff("demo", ours.site)
    grant(staff, "view_lock", "change_lock", "add_lock", "delete_lock")
    client.force_login(staff)

    page = client.get(reverse("admin:locks_lock_changelist")).content.decode()
    button = client.post(reverse("admin:locks_lock_sync"), follow=True)
    action = client.post(
        reverse("admin:locks_lock_changelist"),
        {"action": "sync_from_seam", ACTION_CHECKBOX_NAME: [ours.pk]},
        follow=True,
    )

    assert "Sync doors from Seam" not in page
    assert "sync_from_seam" not in page
    assert button.status_code == 403
    assert "No action selected" in action.content.decode()
    assert "Could not read the doors from Seam" not in action.content.decode()

    client.force_login(make_staff("root", superuser=True))
    page = client.get(reverse("admin:locks_lock_changelist")).content.decode()
    assert "Sync doors from Seam" in page
    assert 'value="sync_from_seam"' in page


def test_a_superuser_sees_every_door(client, ours_and_theirs):
    client.force_login(make_staff("root", superuser=True))

    response = client.get(reverse("admin:locks_lock_changelist"))

    assert response.context["cl"].result_count == 2


def unit_doors() -> dict[tuple[str, str], list[str]]:
    return {
        (unit.site.name, unit.name): [unit_door.lock.name for unit_door in unit.unit_doors.order_by("position")]
        for unit in Unit.objects.select_related("site")
    }


def make_units(client, *locks: Lock):
    return client.post(
        reverse("admin:locks_lock_changelist"),
        {"action": "make_units", ACTION_CHECKBOX_NAME: [lock.pk for lock in locks]},
        follow=True,
    )


def test_make_a_unit_of_each_selected_door_skips_a_door_whose_unit_exists(client):
    site = make_site()
    room_101, room_102, front = (make_lock(site, name) for name in ("Room 101", "Room 102", "Front Door"))
    suite = make_unit(site, "Room 101", front, room_101)
    client.force_login(make_staff("root", superuser=True))

    response = make_units(client, room_101, room_102)
    again = make_units(client, room_102)

    page = response.content.decode()
    assert "Made 1 unit(s): Room 102 (Ocean Beach Vacations)." in page
    assert "Skipped 1 door(s) whose site has a unit of that name already: Room 101 (Ocean Beach Vacations)." in page
    assert "Skipped 1 door(s)" in again.content.decode()
    assert unit_doors() == {
        ("Ocean Beach Vacations", "Room 101"): ["Front Door", "Room 101"],
        ("Ocean Beach Vacations", "Room 102"): ["Room 102"],
    }
    assert Unit.objects.get(name="Room 101") == suite


def test_a_door_of_the_same_name_on_another_site_gets_its_own_unit(client):
    ocean, harbour = make_site(), make_site("Harbour View", "Australia/Sydney")
    make_unit(ocean, "Room 1", make_lock(ocean, "Room 1"))
    theirs = make_lock(harbour, "Room 1")
    client.force_login(make_staff("root", superuser=True))

    make_units(client, theirs)

    assert unit_doors()[("Harbour View", "Room 1")] == ["Room 1"]


def test_staff_make_units_of_their_own_sites_doors_only(client, ours_and_theirs):
    ours, theirs = ours_and_theirs
    staff = make_staff("demo", ours.site)
    grant(staff, "view_lock", "change_lock", "add_unit", "add_unitdoor")
    client.force_login(staff)

    page = client.get(reverse("admin:locks_lock_changelist")).content.decode()
    response = make_units(client, ours, theirs)

    assert 'value="make_units"' in page
    assert "Made 1 unit(s): Room 101 (Ocean Beach Vacations)." in response.content.decode()
    assert unit_doors() == {("Ocean Beach Vacations", "Room 101"): ["Room 101"]}


@pytest.mark.parametrize(
    "codenames",
    [
        ("view_lock", "add_unit", "add_unitdoor"),
        ("view_lock", "change_lock"),
        ("view_lock", "change_lock", "add_unit"),
    ],
)
def test_making_units_needs_the_change_permission_on_doors_and_to_add_units(client, ours_and_theirs, codenames):
    ours, _ = ours_and_theirs
    staff = make_staff("demo", ours.site)
    grant(staff, *codenames)
    client.force_login(staff)

    page = client.get(reverse("admin:locks_lock_changelist")).content.decode()
    response = make_units(client, ours)

    assert "make_units" not in page
    assert response.status_code == 200
    assert "Made 1 unit" not in response.content.decode()
    assert not Unit.objects.exists()
