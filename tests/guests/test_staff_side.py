"""The staff side of the guest page: the reservation's page says where its link stands, staff
of the site revoke it or renew it (the code email then goes out again, carrying the new link),
staff of another site get 404, and the admin lists links without ever showing one."""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.core import mail
from django.urls import reverse

from codes.guestlinks import guest_link_for, guest_link_path, guest_link_token
from codes.models import AccessCode, CodeEmail, GuestLink
from properties.models import Reservation
from tests.builders import make_code, make_lock, make_reservation, make_site, make_staff

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def eager(settings: Any) -> Any:
    # Never reach a broker: a queued task runs in place when its transaction commits.
    settings.CELERY_TASK_ALWAYS_EAGER = True
    # Nobody logs in with a password here (force_login): hashing one properly takes a second.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return settings


@pytest.fixture
def stay() -> Reservation:
    reservation = make_reservation(make_lock(make_site(), "Room 101"))
    make_code(reservation, code="482913")
    return reservation


@pytest.fixture
def staff(client: Any, stay: Reservation) -> Any:
    user = make_staff("demo", stay.site)
    client.force_login(user)
    return user


def act(client: Any, stay: Reservation, do: str) -> tuple[Any, list[str]]:
    """Post the action, follow its redirect; returns the response and the messages it showed."""
    response = client.post(reverse("reservation_guest_link", args=[stay.pk]), {"do": do}, follow=True)
    return response, [str(m) for m in response.context["messages"]]


def test_the_reservation_page_says_whether_a_live_link_exists(client, staff, stay):
    before = client.get(reverse("reservation_detail", args=[stay.pk])).content.decode()
    link = guest_link_for(stay, user=staff)
    GuestLink.objects.filter(pk=link.pk).update(last_viewed_at=datetime(2030, 9, 8, 1, tzinfo=UTC))
    after = client.get(reverse("reservation_detail", args=[stay.pk])).content.decode()

    assert 'data-link-state="none"' in before
    assert "Revoke link" not in before
    assert 'data-link-state="live"' in after
    assert "by demo" in after
    assert "last viewed the PINs on it Sat 7 Sep 2030 18:00 PDT" in after
    assert "Revoke link" in after
    assert "Revoke and send a new link" in after
    # Staff see where the link stands, never the link: opening it would count as the guest's view.
    assert guest_link_token(link) not in after
    assert link.public_id not in after


def test_staff_revoke_the_link_and_it_answers_404(client, staff, stay):
    link = guest_link_for(stay)

    response, said = act(client, stay, "revoke")

    assert response.redirect_chain == [(reverse("reservation_detail", args=[stay.pk]), 302)]
    assert said == ["Guest page link revoked: it no longer opens."]
    link.refresh_from_db()
    assert link.revoked_by == staff
    assert client.get(guest_link_path(link)).status_code == 404
    assert act(client, stay, "revoke")[1] == ["This stay has no live guest page link to revoke."]


def test_renewing_makes_a_new_link_and_resends_the_code_email(
    client, staff, stay, django_capture_on_commit_callbacks: Callable[..., Any]
):
    old = guest_link_for(stay)

    with django_capture_on_commit_callbacks(execute=True):
        _, said = act(client, stay, "renew")

    new = GuestLink.objects.get(reservation=stay, revoked_at__isnull=True)
    assert new.pk != old.pk
    assert new.created_by == staff
    assert client.get(guest_link_path(old)).status_code == 404
    email = CodeEmail.objects.get(access_code__reservation=stay)
    assert (email.is_resend, email.requested_by, email.status) == (True, staff, CodeEmail.Status.SENT)
    assert [m.to for m in mail.outbox] == [["ana@example.com"]]
    assert said == [
        "Guest page link renewed: the old link no longer opens. "
        "The code email with the new link to ana@example.com is queued."
    ]


def test_renewing_before_the_codes_are_set_says_the_link_goes_with_the_code_email(client, staff, stay):
    AccessCode.objects.filter(reservation=stay).update(status=AccessCode.Status.WAITING, code="")

    _, said = act(client, stay, "renew")

    assert GuestLink.objects.filter(reservation=stay, revoked_at__isnull=True).count() == 1
    assert not CodeEmail.objects.exists()
    assert said == [
        "Guest page link renewed: the old link no longer opens. "
        "The new link goes out with the code email once the codes are set."
    ]


def test_staff_of_another_site_get_404_and_change_nothing(client, stay):
    link = guest_link_for(stay)
    client.force_login(make_staff("harbour", make_site("Harbour View", "Australia/Sydney")))

    revoke = client.post(reverse("reservation_guest_link", args=[stay.pk]), {"do": "revoke"})
    renew = client.post(reverse("reservation_guest_link", args=[stay.pk]), {"do": "renew"})

    assert (revoke.status_code, renew.status_code) == (404, 404)
    assert list(GuestLink.objects.all()) == [link]
    assert GuestLink.objects.get().revoked_at is None


def test_the_actions_need_a_login_and_a_post(client, stay):
    url = reverse("reservation_guest_link", args=[stay.pk])

    assert client.post(url, {"do": "revoke"})["Location"].startswith(reverse("login"))
    client.force_login(make_staff("demo", stay.site))
    assert client.get(url).status_code == 405


def test_the_admin_lists_links_without_the_link_and_revokes_them(client, stay):
    link = guest_link_for(stay)
    user = make_staff("desk", stay.site)
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_guestlink", "change_guestlink"]))
    client.force_login(user)

    changelist = client.get(reverse("admin:codes_guestlink_changelist")).content.decode()
    change = client.get(reverse("admin:codes_guestlink_change", args=[link.pk])).content.decode()
    probe = client.get(reverse("admin:codes_guestlink_changelist"), {"public_id__startswith": link.public_id[0]})
    client.post(reverse("admin:codes_guestlink_changelist"), {"action": "revoke", "_selected_action": [link.pk]})

    for page in (changelist, change):
        assert link.public_id not in page
        assert guest_link_token(link) not in page
    assert "Ana Souza" in changelist
    # A filter alone would leak the id one character at a time.
    assert probe.status_code == 400
    link.refresh_from_db()
    assert link.revoked_by == user
