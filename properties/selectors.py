from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Prefetch, QuerySet

from properties.models import Site, Unit, UnitDoor


def sites_for_user(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[Site]:
    """The sites a person may see: their own, or every site for a superuser."""
    if not user.is_authenticated:
        return Site.objects.none()
    if getattr(user, "is_superuser", False):
        return Site.objects.all()
    assert isinstance(user, User)
    return Site.objects.filter(staff=user)


def units_for_user(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[Unit]:
    """The units of the person's sites, by site and name, each with its site and its doors in
    walking order (``unit.unit_doors.all()``)."""
    doors = UnitDoor.objects.select_related("lock").order_by("position", "pk")
    return (
        Unit.objects.filter(site__in=sites_for_user(user=user))
        .select_related("site")
        .prefetch_related(Prefetch("unit_doors", queryset=doors))
        .order_by("site__name", "name", "pk")
    )
