"""The codes admin: no query reaches a PIN, actions need the change permission, and a staff
user sees and acts on their own sites' rows only."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission, User
from django.urls import reverse

from codes.models import AccessCode, AccessCodeEvent, CodeEmail, SeamCreateCall, WebhookDelivery
from locks.models import Lock
from tests.builders import make_code, make_lock, make_reservation, make_site, make_staff

pytestmark = pytest.mark.django_db

PIN = "654321"
START = datetime(2030, 9, 10, 22, tzinfo=UTC)
CODE_ADMINS = ["accesscode", "codeemail", "accesscodeevent", "seamcreatecall"]


def grant(user: User, *codenames: str) -> None:
    for codename in codenames:
        user.user_permissions.add(Permission.objects.get(codename=codename))


def code_on(lock: Lock, guest_name: str, **fields) -> AccessCode:
    """A set code with a PIN for a stay of ``guest_name`` on ``lock``."""
    reservation = make_reservation(
        lock, guest_name=guest_name, guest_email=f"{guest_name.split()[0].lower()}@example.com"
    )
    window = {"starts_at": START, "ends_at": START + timedelta(days=3)}
    return make_code(reservation, **{**window, "code": PIN, "seam_access_code_id": "", **fields})


@pytest.fixture
def ours_and_theirs():
    """A set code with its history at Ocean Beach (the user's site) and one at Harbour View."""
    codes = []
    for site_name, door, guest in [
        ("Ocean Beach Vacations", "Room 101", "Ana Ours"),
        ("Harbour View", "Loft 7", "Ben Theirs"),
    ]:
        code = code_on(make_lock(make_site(site_name), door), guest)
        CodeEmail.objects.create(
            access_code=code, to_address=code.reservation.guest_email, status=CodeEmail.Status.SENT
        )
        AccessCodeEvent.objects.create(access_code=code, kind=AccessCodeEvent.Kind.REQUESTED)
        SeamCreateCall.objects.create(lock=code.lock, access_code=code, sent_at=START)
        codes.append(code)
    return codes


def staff_of(code: AccessCode, *codenames: str) -> User:
    user = make_staff("demo", code.reservation.site)
    grant(user, *codenames)
    return user


def changelist(model_name: str) -> str:
    return reverse(f"admin:codes_{model_name}_changelist")


# --- no query reaches a PIN --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url_name", "lookup"),
    [
        ("codes_accesscode", {"code": PIN}),
        ("codes_accesscode", {"code__startswith": "6"}),
        ("codes_accesscode", {"code__regex": "^65"}),
        ("codes_accesscode", {"code__in": PIN}),
        ("codes_accesscode", {"reservation__access_codes__code__startswith": "6"}),
        ("codes_codeemail", {"access_code__code": PIN}),
        ("codes_codeemail", {"access_code__code__startswith": "6"}),
        ("codes_accesscodeevent", {"access_code__code__startswith": "6"}),
        ("codes_seamcreatecall", {"access_code__code__startswith": "6"}),
        ("codes_seamcreatecall", {"lock__access_codes__code__startswith": "6"}),
        ("codes_webhookdelivery", {"payload__code__startswith": "6"}),
        ("codes_webhookdelivery", {"payload__has_key": "code"}),
        ("codes_webhookdelivery", {"payload": "{}"}),
        ("properties_reservation", {"access_codes__code__startswith": "6"}),
        ("properties_site", {"reservations__access_codes__code__startswith": "6"}),
        ("locks_lock", {"access_codes__code__startswith": "6"}),
        ("locks_lock", {"site__locks__access_codes__code": PIN}),
    ],
)
def test_no_admin_list_can_be_filtered_on_a_pin(client, ours_and_theirs, url_name, lookup):
    WebhookDelivery.objects.create(svix_id="msg_1", event_type="access_code.set_on_device", payload={"code": PIN})
    client.force_login(make_staff("root", superuser=True))

    response = client.get(reverse(f"admin:{url_name}_changelist"), lookup)

    assert response.status_code == 400


def test_ordinary_filters_still_work(client, ours_and_theirs):
    ours, theirs = ours_and_theirs
    AccessCode.objects.filter(pk=theirs.pk).update(status=AccessCode.Status.FAILED)
    WebhookDelivery.objects.create(svix_id="msg_1", event_type="access_code.set_on_device", payload={"code": PIN})
    client.force_login(make_staff("root", superuser=True))

    failed = client.get(changelist("accesscode"), {"status__exact": "failed"})
    by_site = client.get(changelist("accesscode"), {"lock__site__id__exact": ours.lock.site_id})
    searched = client.get(changelist("accesscode"), {"q": "Ben"})
    webhooks = client.get(changelist("webhookdelivery"), {"event_type": "access_code.set_on_device"})

    assert failed.status_code == by_site.status_code == searched.status_code == webhooks.status_code == 200
    assert [c.pk for c in failed.context["cl"].result_list] == [theirs.pk]
    assert [c.pk for c in by_site.context["cl"].result_list] == [ours.pk]
    assert [c.pk for c in searched.context["cl"].result_list] == [theirs.pk]
    assert webhooks.context["cl"].result_count == 1


def test_a_webhook_payload_is_shown_without_its_pin(client):
    delivery = WebhookDelivery.objects.create(
        svix_id="msg_1",
        event_type="access_code.set_on_device",
        payload={
            "event_type": "access_code.set_on_device",
            "code": PIN,
            "data": [{"code": PIN}],
            "changes": [{"field": "code", "from": PIN, "to": PIN}],
        },
    )
    client.force_login(make_staff("root", superuser=True))

    page = client.get(reverse("admin:codes_webhookdelivery_change", args=[delivery.pk])).content.decode()

    assert "access_code.set_on_device" in page
    assert PIN not in page


def test_every_admin_of_the_project_is_scoped_and_shows_no_pin():
    from properties.admin import SiteScopedAdmin

    project_admins = [
        model_admin
        for model, model_admin in admin.site._registry.items()
        if model._meta.app_label in {"properties", "locks", "codes", "feeds", "authtoken"}
    ]

    assert project_admins
    assert [type(a).__name__ for a in project_admins if not isinstance(a, SiteScopedAdmin)] == []
    assert {"CalendarFeedAdmin", "FeedStayAdmin", "SuperuserTokenAdmin"} <= {type(a).__name__ for a in project_admins}
    assert [error for model_admin in project_admins for error in model_admin.check()] == []


def test_an_admin_that_would_show_or_search_a_pin_fails_the_system_check():
    from properties.admin import SiteScopedAdmin

    class LeakyCodeAdmin(SiteScopedAdmin[AccessCode]):
        site_path = "reservation__site"
        list_display = ["name", "code"]
        search_fields = ["=reservation__access_codes__code"]
        exclude = ["code"]

    class LeakyWebhookAdmin(SiteScopedAdmin[WebhookDelivery]):
        readonly_fields = ["payload"]

    class PinInTheFormAdmin(SiteScopedAdmin[AccessCode]):
        site_path = "reservation__site"

    site = admin.AdminSite(name="leaky")
    model_admins: list[admin.ModelAdmin[Any]] = [
        LeakyCodeAdmin(AccessCode, site),
        LeakyWebhookAdmin(WebhookDelivery, site),
        PinInTheFormAdmin(AccessCode, site),
    ]

    leaks = {type(model_admin).__name__: [e.id for e in model_admin.check()] for model_admin in model_admins}

    assert leaks == {
        "LeakyCodeAdmin": ["properties.E001", "properties.E001"],
        "LeakyWebhookAdmin": ["properties.E001"],
        "PinInTheFormAdmin": ["properties.E002"],
    }


# --- actions need the change permission ------------------------------------------------------


def test_a_view_only_user_is_offered_no_action(client, ours_and_theirs):
    ours, _ = ours_and_theirs
    client.force_login(staff_of(ours, "view_accesscode"))

    page = client.get(changelist("accesscode"))

    assert page.status_code == 200
    assert ours.name in page.content.decode()
    for action in ["retry_failed", "resend_email", "acknowledge_ledger"]:
        assert action not in page.content.decode()


def test_a_user_with_the_change_permission_is_offered_the_actions(client, ours_and_theirs):
    ours, _ = ours_and_theirs
    client.force_login(staff_of(ours, "view_accesscode", "change_accesscode"))

    page = client.get(changelist("accesscode")).content.decode()

    for action in ["retry_failed", "resend_email", "acknowledge_ledger"]:
        assert f'value="{action}"' in page


def test_an_action_forged_by_a_view_only_user_does_nothing(client, ours_and_theirs):
    ours, _ = ours_and_theirs
    failed = code_on(ours.lock, "Cy Failed", status=AccessCode.Status.FAILED, code="")
    AccessCode.objects.filter(pk=ours.pk).update(ledger_reason=AccessCode.LedgerReason.CANCELLED)
    client.force_login(staff_of(ours, "view_accesscode"))
    emails = CodeEmail.objects.count()

    for action in ["resend_email", "acknowledge_ledger", "retry_failed"]:
        client.post(changelist("accesscode"), {"action": action, ACTION_CHECKBOX_NAME: [ours.pk, failed.pk]})

    assert CodeEmail.objects.count() == emails
    ours.refresh_from_db()
    failed.refresh_from_db()
    assert ours.acknowledged_at is None
    assert failed.status == AccessCode.Status.FAILED


# --- a staff user sees and acts on their own sites' rows only ----------------------------------


@pytest.mark.parametrize("model_name", CODE_ADMINS)
def test_a_staff_user_sees_only_their_sites_rows(client, ours_and_theirs, model_name):
    ours, theirs = ours_and_theirs
    client.force_login(staff_of(ours, f"view_{model_name}"))

    response = client.get(changelist(model_name))

    page = response.content.decode()
    assert response.status_code == 200
    assert response.context["cl"].result_count == 1
    assert ours.name in page
    assert theirs.name not in page
    # Nor in a list filter: the site and door filters list only what the user's rows use.
    assert "Harbour View" not in page
    assert "Loft 7" not in page


@pytest.mark.parametrize("model_name", CODE_ADMINS)
def test_a_staff_user_gets_no_change_page_for_another_sites_row(client, ours_and_theirs, model_name):
    ours, theirs = ours_and_theirs
    model = apps.get_model("codes", model_name)
    theirs_row = model.objects.get(pk=theirs.pk) if model is AccessCode else model.objects.get(access_code=theirs)
    ours_row = model.objects.get(pk=ours.pk) if model is AccessCode else model.objects.get(access_code=ours)
    client.force_login(staff_of(ours, f"view_{model_name}", f"change_{model_name}"))

    mine = client.get(reverse(f"admin:codes_{model_name}_change", args=[ours_row.pk]))
    other = client.get(reverse(f"admin:codes_{model_name}_change", args=[theirs_row.pk]))

    assert mine.status_code == 200
    assert other.status_code == 302
    assert other.url == reverse("admin:index")


def test_resending_another_sites_code_by_a_forged_action_queues_no_email(client, ours_and_theirs):
    ours, theirs = ours_and_theirs
    client.force_login(staff_of(ours, "view_accesscode", "change_accesscode"))
    emails = CodeEmail.objects.count()

    client.post(changelist("accesscode"), {"action": "resend_email", ACTION_CHECKBOX_NAME: [theirs.pk]})

    assert CodeEmail.objects.count() == emails

    client.post(changelist("accesscode"), {"action": "resend_email", ACTION_CHECKBOX_NAME: [ours.pk]})

    assert CodeEmail.objects.filter(access_code=ours, is_resend=True).count() == 1


def test_webhook_deliveries_are_for_superusers_only(client):
    WebhookDelivery.objects.create(svix_id="msg_1", event_type="access_code.created", payload={})
    staff = make_staff("demo", make_site())
    grant(staff, "view_webhookdelivery", "change_webhookdelivery", "delete_webhookdelivery", "view_accesscode")
    client.force_login(staff)

    assert client.get(changelist("webhookdelivery")).status_code == 403
    index = client.get(reverse("admin:index")).content.decode()
    assert reverse("admin:codes_accesscode_changelist") in index
    assert reverse("admin:codes_webhookdelivery_changelist") not in index

    client.force_login(make_staff("root", superuser=True))
    assert client.get(changelist("webhookdelivery")).context["cl"].result_count == 1
    assert reverse("admin:codes_webhookdelivery_changelist") in client.get(reverse("admin:index")).content.decode()


@pytest.mark.parametrize("model_name", CODE_ADMINS)
def test_a_superuser_sees_every_sites_rows(client, ours_and_theirs, model_name):
    ours, theirs = ours_and_theirs
    client.force_login(make_staff("root", superuser=True))

    page = client.get(changelist(model_name)).content.decode()

    assert ours.name in page
    assert theirs.name in page
