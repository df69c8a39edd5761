from datetime import date, datetime
from typing import Any

from django import forms
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError

from codes.models import AccessCode
from codes.windows import Window, explain_no_windows, find_window, offer_windows
from locks.models import Lock
from properties.models import Reservation, Site
from properties.selectors import sites_for_user


class ReservationForm(forms.ModelForm[Reservation]):
    """A stay on one door, and the code window for it chosen among those the door accepts.

    The window choices are computed from the door's time slots and the dates in the bound
    data; on submit the chosen key is looked up again in a fresh offer, so a tampered or
    stale choice is refused here and never reaches Seam.
    """

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

    def __init__(
        self, *args: Any, user: AbstractBaseUser | AnonymousUser, now: datetime | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.now = now
        sites = sites_for_user(user=user)
        site_field = self.fields["site"]
        lock_field = self.fields["lock"]
        assert isinstance(site_field, forms.ModelChoiceField)
        assert isinstance(lock_field, forms.ModelChoiceField)
        site_field.queryset = sites
        locks = Lock.objects.filter(site__in=sites).select_related("site").order_by("name")
        site = self._raw_value("site")
        if isinstance(site, Site):
            locks = locks.filter(site=site)
        lock_field.queryset = locks
        lock_field.empty_label = "Choose a door" if isinstance(site, Site) else "Choose a site first"

        self.offered: list[Window] = []
        self.no_window_reasons: list[str] = []
        self.zone_warning = ""
        self._offer()
        window_field = self.fields["window"]
        assert isinstance(window_field, forms.ChoiceField)
        window_field.choices = [(w.key, w.label) for w in self.offered]

    def _raw_value(self, name: str) -> Any:
        """The cleaned value of one field from the bound data, or None while it is not valid."""
        field = self.fields[name]
        if self.is_bound:
            raw = field.widget.value_from_datadict(self.data, self.files, self.add_prefix(name))
        else:
            # The htmx refresh passes what was typed so far as initial data: it should offer
            # the windows without showing "required" errors on a form nobody has submitted.
            raw = self.initial.get(name)
            if isinstance(raw, Site | Lock | date):
                return raw
        try:
            return field.clean(raw)
        except ValidationError:
            return None

    def _offer(self) -> None:
        lock = self._raw_value("lock")
        arrival = self._raw_value("arrival")
        departure = self._raw_value("departure")
        if not isinstance(lock, Lock) or not isinstance(arrival, date) or not isinstance(departure, date):
            return
        if lock.timezone_mismatch:
            self.zone_warning = (
                f"This door's time zone ({lock.timezone or 'not set'}) disagrees with its time slots "
                f"({', '.join(sorted(lock.slot_timezones))}). Fix the site's time zone in dormakaba, "
                "then sync the doors again."
            )
        if departure <= arrival:
            return
        if not lock.can_program_offline_access_codes:
            self.no_window_reasons = ["Seam says this door cannot take offline codes. Choose another door."]
            return
        self.offered = offer_windows(lock.time_slots, arrival=arrival, departure=departure, now=self.now)
        if not self.offered:
            self.no_window_reasons = explain_no_windows(
                lock.time_slots,
                arrival=arrival,
                departure=departure,
                now=self.now,
                lock_timezone=lock.timezone or None,
            )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        site, lock = cleaned.get("site"), cleaned.get("lock")
        arrival, departure = cleaned.get("arrival"), cleaned.get("departure")
        if site and lock and lock.site_id != site.pk:
            self.add_error("lock", "This door belongs to another site.")
        if arrival and departure and departure <= arrival:
            self.add_error("departure", "Departure must be at least one day after arrival.")
        key = cleaned.get("window")
        if lock and arrival and departure and departure > arrival and key:
            # Recompute the offer now: the clock may have passed check-in since the page loaded.
            window = find_window(lock.time_slots, arrival=arrival, departure=departure, key=key, now=self.now)
            if window is None:
                self.add_error("window", self.fields["window"].error_messages["invalid_choice"])
            else:
                cleaned["window"] = window
        return cleaned


class ReservationFilterForm(forms.Form):
    STATES = [
        ("", "Any state"),
        *AccessCode.Status.choices,
        ("late", "Late (not set near check-in)"),
        ("none", "No code"),
    ]

    q = forms.CharField(label="Guest", required=False, widget=forms.TextInput(attrs={"placeholder": "Name or email"}))
    site = forms.ModelChoiceField(queryset=Site.objects.none(), required=False, empty_label="All sites")
    arrival_from = forms.DateField(
        label="Arriving from", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    arrival_to = forms.DateField(
        label="Arriving until", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    state = forms.ChoiceField(label="Code state", choices=STATES, required=False)

    def __init__(self, *args: Any, user: AbstractBaseUser | AnonymousUser, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        site_field = self.fields["site"]
        assert isinstance(site_field, forms.ModelChoiceField)
        site_field.queryset = sites_for_user(user=user)
