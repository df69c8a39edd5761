"""The staff pages' forms. They read and check what was typed; what a stay can get on a door is
asked of :mod:`codes.offers` by the views (which hand the offered choices to the form), and
the services decide, and refuse, on their own."""

from datetime import date
from typing import Any

from django import forms
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError

from codes.errors import Refused
from codes.models import AccessCode
from codes.offers import ChangeOffer, StayOffer
from locks.models import Lock
from properties.models import Reservation, Site
from properties.selectors import sites_for_user

User = AbstractBaseUser | AnonymousUser


def value_so_far(form: forms.BaseForm, name: str) -> Any:
    """The cleaned value of one field from the bound data, or None while it is not valid.

    Unbound, the value comes from ``initial``: the htmx refresh and the change page pass what
    was typed so far that way, to offer choices without showing "required" errors on a form
    nobody has submitted.
    """
    field = form.fields[name]
    if form.is_bound:
        raw = field.widget.value_from_datadict(form.data, form.files, form.add_prefix(name))
    else:
        raw = form.initial.get(name)
        if isinstance(raw, Site | Lock | date):
            return raw
    try:
        return field.clean(raw)
    except ValidationError:
        return None


def add_refusal(form: forms.BaseForm, refusal: Refused) -> None:
    """Show a service's refusal on the form: next to the field it is about, else above it."""
    form.add_error(refusal.field if refusal.field in form.fields else None, refusal.message)


class ReservationForm(forms.ModelForm[Reservation]):
    """A stay on one door, and the code window for it among those the door offers (see
    ``offer_windows``): one code per level, or for a stay over 31 days a chain of codes."""

    window = forms.ChoiceField(
        label="Code window",
        widget=forms.RadioSelect,
        error_messages={
            "required": "Pick the code window for this stay.",
            "invalid_choice": "That window is not offered for this door and these dates (any more). "
            "Pick one of the windows listed.",
        },
    )

    class Meta:
        model = Reservation
        fields = ["site", "lock", "guest_name", "guest_email", "arrival", "departure"]
        labels = {"lock": "Door", "guest_email": "Guest email"}
        widgets = {
            "arrival": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            "departure": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        }

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        sites = sites_for_user(user=user)
        site_field, lock_field = self.fields["site"], self.fields["lock"]
        assert isinstance(site_field, forms.ModelChoiceField)
        assert isinstance(lock_field, forms.ModelChoiceField)
        site_field.queryset = sites
        site = value_so_far(self, "site")
        locks = Lock.objects.filter(site__in=sites).select_related("site").order_by("name")
        lock_field.queryset = locks.filter(site=site) if isinstance(site, Site) else locks
        lock_field.empty_label = "Choose a door" if isinstance(site, Site) else "Choose a site first"

    def stay_so_far(self) -> tuple[Lock, date, date] | None:
        """The door and dates typed so far, once each is valid: enough to ask for an offer."""
        lock, arrival, departure = (value_so_far(self, name) for name in ("lock", "arrival", "departure"))
        if isinstance(lock, Lock) and isinstance(arrival, date) and isinstance(departure, date):
            return lock, arrival, departure
        return None

    def offer_windows(self, offer: StayOffer) -> None:
        """Offer the plans of ``offer`` as the window choices (the key of each is looked up again
        in a fresh offer by the service that books the stay)."""
        window_field = self.fields["window"]
        assert isinstance(window_field, forms.ChoiceField)
        window_field.choices = [(plan.key, plan.label) for plan in offer.plans]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        site, lock = cleaned.get("site"), cleaned.get("lock")
        if site and lock and lock.site_id != site.pk:
            self.add_error("lock", "This door belongs to another site.")
        return cleaned


class SiteFilterForm(forms.Form):
    """A filter by site: one the person may see, or all of them."""

    site = forms.ModelChoiceField(queryset=Site.objects.none(), required=False, empty_label="All sites")

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        site_field = self.fields["site"]
        assert isinstance(site_field, forms.ModelChoiceField)
        site_field.queryset = sites_for_user(user=user)


class ReservationFilterForm(SiteFilterForm):
    STATES = [
        ("", "Any state"),
        *AccessCode.Status.choices,
        ("late", "Late (not set near check-in)"),
        ("none", "No code"),
    ]

    q = forms.CharField(label="Guest", required=False, widget=forms.TextInput(attrs={"placeholder": "Name or email"}))
    arrival_from = forms.DateField(
        label="Arriving from", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    arrival_to = forms.DateField(
        label="Arriving until", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    state = forms.ChoiceField(label="Code state", choices=STATES, required=False)
    field_order = ["q", "site", "arrival_from", "arrival_to", "state"]


class ReservationChangeForm(forms.Form):
    """New dates for a stay, and how its codes follow: one of the plans the view offers (see
    ``offer_plans``), each saying which codes are kept, added and superseded."""

    arrival = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    departure = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    plan = forms.ChoiceField(
        label="What happens to the codes",
        widget=forms.RadioSelect,
        error_messages={
            "required": "Pick what happens to the codes.",
            "invalid_choice": "That choice is no longer offered for these dates. Pick one of those listed.",
        },
    )

    def __init__(self, *args: Any, preview: bool = False, **kwargs: Any) -> None:
        """``preview``: the dates only (the page's "show what happens" step), no choice yet."""
        super().__init__(*args, **kwargs)
        if preview:
            self.fields["plan"].required = False

    def dates_so_far(self) -> tuple[date, date] | None:
        arrival, departure = value_so_far(self, "arrival"), value_so_far(self, "departure")
        if isinstance(arrival, date) and isinstance(departure, date):
            return arrival, departure
        return None

    def offer_plans(self, offer: ChangeOffer) -> None:
        plan_field = self.fields["plan"]
        assert isinstance(plan_field, forms.ChoiceField)
        plan_field.choices = [(plan.key, plan.summary) for plan in offer.plans]
