from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser, User
from django.db.models import QuerySet

from properties.models import Site


def sites_for_user(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[Site]:
    """The sites a person may see: their own, or every site for a superuser."""
    if not user.is_authenticated:
        return Site.objects.none()
    if getattr(user, "is_superuser", False):
        return Site.objects.all()
    assert isinstance(user, User)
    return Site.objects.filter(staff=user)
