"""A code's history, which staff read on the reservation's page: every step is recorded here,
including each time a person saw the PIN (a staff reveal, the guest on the guest page: the only
ways a PIN is shown in the app)."""

from collections.abc import Iterable

from django.contrib.auth.models import User

from codes.models import AccessCode, AccessCodeEvent


def record(code: AccessCode, kind: str, message: str = "", *, user: User | None = None) -> AccessCodeEvent:
    """Add one step (``AccessCodeEvent.Kind``) to the code's history; returns it."""
    return AccessCodeEvent.objects.create(access_code=code, kind=kind, message=message, user=user)


def record_each(codes: Iterable[AccessCode], kind: str, message: str = "") -> list[AccessCodeEvent]:
    """The same step on each code's history, in one query however many codes; returns them."""
    events = [AccessCodeEvent(access_code=code, kind=kind, message=message) for code in codes]
    return AccessCodeEvent.objects.bulk_create(events) if events else []


def access_code_reveal(*, access_code: AccessCode, user: User) -> str:
    """Return the PIN and record who revealed it, and when, in the code's history."""
    record(access_code, AccessCodeEvent.Kind.REVEALED, f"PIN revealed to {user.get_username()}.", user=user)
    return access_code.code
