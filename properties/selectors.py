from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser, User
from django.db.models import QuerySet

from properties.models import Site, Unit


def sites_for_user(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[Site]:
    """The sites a person may see: their own, or every site for a superuser."""
    if not user.is_authenticated:
        return Site.objects.none()
    if getattr(user, "is_superuser", False):
        return Site.objects.all()
    assert isinstance(user, User)
    return Site.objects.filter(staff=user)


def units_for_user(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[Unit]:
    """The units of the person's sites, by site and name."""
    return (
        Unit.objects.filter(site__in=sites_for_user(user=user)).select_related("site").order_by("site__name", "name")
    )
