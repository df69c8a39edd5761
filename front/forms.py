"""The staff pages' forms. They read and check what was typed; what a stay can get on a door is
asked of :mod:`codes.offers` by the views (which hand the offered choices to the form), and
the services decide, and refuse, on their own."""

import uuid
from datetime import date
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError

from codes.errors import Refused
from codes.models import AccessCode
from codes.offers import ChangeOffer, StayOffer
from codes.selectors import ReservationSort, StayFilter
from feeds.models import CalendarFeed
from locks.models import Lock
from properties.models import Reservation, Site, Unit
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


def plan_field_name(lock: Lock) -> str:
    """The form field that holds the plan chosen for one door."""
    return f"plan_{lock.pk}"


def _level(key: str) -> str:
    """The user level a plan's key names (a chain names it in each link): the part a new set of
    dates keeps, when the instants change."""
    return key.removeprefix("chain:").split("|", 1)[0]


class DoorPlansMixin(forms.BaseForm):
    """One choice per door of the unit (``plan_<lock id>``), among the plans its offer holds,
    the preselected one checked; a door that offers nothing gets no field."""

    def offer_plans(self, offer: StayOffer | ChangeOffer, *, preview: bool = False) -> None:
        """Add a choice for each door that offers plans. On a refresh (unbound), a choice made
        before for other dates keeps its level where the door still offers it (the instants in
        its key changed); a submitted choice is checked as it is, and refused if not offered.
        ``preview``: a bound form that shows choices before any was made (the change page's
        dates step): each door's preselected plan is checked."""
        self.offer = offer
        if preview and self.is_bound:
            data = self.data.copy()  # type: ignore[attr-defined]  # a QueryDict
            for door in offer.doors:
                if door.plans:
                    data.setdefault(self.add_prefix(plan_field_name(door.lock)), door.preselected)
            self.data = data
        for door in offer.doors:
            if not door.plans:
                continue
            name = plan_field_name(door.lock)
            before = str(self.data.get(self.add_prefix(name), "") if self.is_bound else self.initial.get(name, ""))
            kept = next((plan.key for plan in door.plans if before and _level(plan.key) == _level(before)), None)
            self.fields[name] = forms.ChoiceField(
                label=door.lock.name,
                widget=forms.RadioSelect,
                choices=[
                    (plan.key, getattr(plan, "label", None) or getattr(plan, "summary", "")) for plan in door.plans
                ],
                initial=kept or door.preselected,
                error_messages={
                    "required": f"Pick the code window for {door.lock.name}.",
                    "invalid_choice": f"That window is not offered for {door.lock.name} and these dates (any "
                    "more). Pick one of the windows listed.",
                },
            )

    def plan_keys(self) -> dict[int, str]:
        """The plan chosen for each door, by lock id (a valid form's)."""
        doors = self.offer.doors if hasattr(self, "offer") else []
        return {
            door.lock.pk: self.cleaned_data[plan_field_name(door.lock)]
            for door in doors
            if plan_field_name(door.lock) in self.cleaned_data
        }


def language_choices() -> list[tuple[str, str]]:
    """The guest languages, the site's first (an empty value: the stay follows its site's)."""
    return [("", "The site's language"), *settings.LANGUAGES]


class ReservationForm(DoorPlansMixin, forms.ModelForm[Reservation]):
    """A stay in one unit, and the code window for each of its doors among those the door offers
    (see ``offer_plans``): one code per level, or for a stay over 31 days a chain of codes."""

    allow_overlap = forms.BooleanField(
        label="Book it anyway: it is not the same stay twice", required=False, widget=forms.CheckboxInput
    )
    # One per page load: the same form submitted twice books one stay.
    request_key = forms.CharField(widget=forms.HiddenInput, required=False, max_length=64)

    class Meta:
        model = Reservation
        fields = ["site", "unit", "guest_name", "guest_email", "language", "arrival", "departure"]
        labels = {"guest_email": "Guest email", "language": "Guest's language"}
        widgets = {
            "arrival": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            "departure": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        }

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        sites = sites_for_user(user=user)
        site_field, unit_field = self.fields["site"], self.fields["unit"]
        assert isinstance(site_field, forms.ModelChoiceField)
        assert isinstance(unit_field, forms.ModelChoiceField)
        site_field.queryset = sites
        only_site = sites.first() if sites.count() == 1 else None
        if only_site is not None:
            # Nothing to choose: the person's one site.
            site_field.widget = forms.HiddenInput()
            site_field.initial = only_site.pk
        site = value_so_far(self, "site") or only_site
        units = Unit.objects.filter(site__in=sites).select_related("site").order_by("name")
        unit_field.queryset = units.filter(site=site) if isinstance(site, Site) else units
        unit_field.empty_label = "Choose a unit" if isinstance(site, Site) else "Choose a site first"
        language_field = self.fields["language"]
        assert isinstance(language_field, forms.TypedChoiceField)
        language_field.choices = language_choices()
        if not self.is_bound and not self.initial.get("request_key"):
            self.initial["request_key"] = uuid.uuid4().hex

    def stay_so_far(self) -> tuple[Unit, date, date] | None:
        """The unit and dates typed so far, once each is valid: enough to ask for an offer."""
        unit, arrival, departure = (value_so_far(self, name) for name in ("unit", "arrival", "departure"))
        if isinstance(unit, Unit) and isinstance(arrival, date) and isinstance(departure, date):
            return unit, arrival, departure
        return None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        site, unit = cleaned.get("site"), cleaned.get("unit")
        if site and unit and unit.site_id != site.pk:
            self.add_error("unit", "This unit belongs to another site.")
        return cleaned


class CodesForm(DoorPlansMixin, forms.Form):
    """The code window for each door of a stay that has no codes yet."""


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
    stay = forms.ChoiceField(label="Stay", choices=[("", "Any stay"), *StayFilter.choices], required=False)
    state = forms.ChoiceField(label="Code state", choices=STATES, required=False)
    # A choice, never a column name: the query string cannot order by whatever it likes.
    sort = forms.ChoiceField(label="Sort", choices=ReservationSort.choices, required=False)
    field_order = ["q", "site", "arrival_from", "arrival_to", "stay", "state", "sort"]


class GuestForm(forms.Form):
    """The guest's name and email address, as staff correct them. A plain form, not a model
    form: the service writes the stay, under its row lock, and the page keeps showing the stay
    as it stands until then (a model form would change it in memory as it validates)."""

    guest_name = forms.CharField(label="Guest name", max_length=200)  # as long as Reservation.guest_name may be
    guest_email = forms.EmailField(label="Guest email")
    language = forms.ChoiceField(
        label="Guest's language",
        required=False,
        help_text="For the code email and the guest page.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        language_field = self.fields["language"]
        assert isinstance(language_field, forms.ChoiceField)
        language_field.choices = language_choices()


class ReservationChangeForm(DoorPlansMixin, forms.Form):
    """New dates for a stay, and how its codes follow on each door: one of the plans the door's
    change offer holds (see ``offer_plans``), each saying which codes are kept, added and
    superseded; the one that keeps the door's level is preselected."""

    arrival = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    departure = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))

    def dates_so_far(self) -> tuple[date, date] | None:
        arrival, departure = value_so_far(self, "arrival"), value_so_far(self, "departure")
        if isinstance(arrival, date) and isinstance(departure, date):
            return arrival, departure
        return None


class FeedForm(forms.Form):
    """A channel's calendar export link for a unit."""

    url = forms.URLField(
        label="Calendar export link (iCal)",
        max_length=2000,
        assume_scheme="https",
        help_text="From Airbnb, Vrbo or Booking.com: the “Export calendar” link of this unit's listing.",
    )
    channel = forms.ChoiceField(
        label="Channel",
        required=False,
        choices=[("", "Guess from the link"), *CalendarFeed.Channel.choices],
        widget=forms.Select(attrs={"class": "form-select"}),
    )
