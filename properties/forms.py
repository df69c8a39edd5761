from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError
from django.utils import timezone

from codes.changes import Capacity, capacity, change_plans, current_codes, live_codes
from codes.models import AccessCode
from codes.plans import ChangePlan, Plan, find_plan, offer_plans
from codes.windows import check_stay, explain_no_windows, format_local, zone_abbreviation
from locks.models import Lock
from properties.models import Reservation, Site
from properties.selectors import sites_for_user


def _value_so_far(form: forms.BaseForm, name: str) -> Any:
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


# Which date field a stay refusal belongs to (see ``codes.windows.check_stay``).
_ARRIVAL_ERRORS = {"arrival_too_far_ahead", "arrival_too_long_ago", "date_out_of_range"}


def stay_refusal(arrival: date, departure: date, *, now: datetime | None = None) -> ValidationError | None:
    """Why no codes can be planned for these dates at all (order, length, range), or None.

    Checked before any offer is computed: a stay of ten years, or one in year 9999, is refused
    here in microseconds instead of being planned code by code.
    """
    try:
        check_stay(arrival, departure, today=(now or timezone.now()).date())
    except ValidationError as exc:
        return exc
    return None


def _add_stay_refusal(form: forms.BaseForm, refusal: ValidationError) -> None:
    field = "arrival" if getattr(refusal, "code", None) in _ARRIVAL_ERRORS else "departure"
    form.add_error(field, refusal)


class ReservationForm(forms.ModelForm[Reservation]):
    """A stay on one door, and the code window for it chosen among those the door accepts.

    The window choices are computed from the door's time slots and the dates in the bound
    data: one code per level, or for a stay over 31 days a chain of codes, shown link by link
    before anything is created. On submit the chosen key is looked up again in a fresh offer,
    so a tampered or stale choice is refused here and never reaches Seam. A door whose time
    zones disagree, or that has no room for the codes, offers nothing and says why.
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
        site = _value_so_far(self, "site")
        if isinstance(site, Site):
            locks = locks.filter(site=site)
        lock_field.queryset = locks
        lock_field.empty_label = "Choose a door" if isinstance(site, Site) else "Choose a site first"

        self.offered: list[Plan] = []
        self.no_window_reasons: list[str] = []
        self.stay_problem = ""
        self.capacity: Capacity | None = None
        self._offer()
        window_field = self.fields["window"]
        assert isinstance(window_field, forms.ChoiceField)
        window_field.choices = [(w.key, w.label) for w in self.offered]

    def _offer(self) -> None:
        lock = _value_so_far(self, "lock")
        arrival = _value_so_far(self, "arrival")
        departure = _value_so_far(self, "departure")
        if not isinstance(lock, Lock) or not isinstance(arrival, date) or not isinstance(departure, date):
            return
        refusal = stay_refusal(arrival, departure, now=self.now)
        if refusal is not None:
            self.stay_problem = " ".join(refusal.messages)
            return
        self.capacity = capacity(lock, live=live_codes(now=self.now).filter(lock=lock).count())
        if lock.timezone_problem:
            self.no_window_reasons = [
                f"No codes can be made for this door until its time zones agree. {lock.timezone_problem}"
            ]
            return
        if not lock.can_program_offline_access_codes:
            self.no_window_reasons = ["Seam says this door cannot take offline codes. Choose another door."]
            return
        self.offered = offer_plans(lock.time_slots, arrival=arrival, departure=departure, now=self.now)
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
        refusal = stay_refusal(arrival, departure, now=self.now) if arrival and departure else None
        if refusal is not None:
            _add_stay_refusal(self, refusal)
        key = cleaned.get("window")
        if lock and lock.timezone_problem:
            self.add_error("lock", f"No codes can be made for this door: {lock.timezone_problem}")
        elif lock and arrival and departure and refusal is None and key:
            # Recompute the offer now: the clock may have passed check-in since the page loaded.
            plan = find_plan(lock.time_slots, arrival=arrival, departure=departure, key=key, now=self.now)
            if plan is None:
                self.add_error("window", self.fields["window"].error_messages["invalid_choice"])
            else:
                # Whether the door has room for the plan's codes is decided by the service
                # that records them; the view shows its refusal on this form.
                cleaned["window"] = plan
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


class LedgerFilterForm(forms.Form):
    """The ledger's site filter: a site the person may see, or all of them."""

    site = forms.ModelChoiceField(queryset=Site.objects.none(), required=False, empty_label="All sites")

    def __init__(self, *args: Any, user: AbstractBaseUser | AnonymousUser, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        site_field = self.fields["site"]
        assert isinstance(site_field, forms.ModelChoiceField)
        site_field.queryset = sites_for_user(user=user)


class ReservationChangeForm(forms.Form):
    """New dates for a stay, and how its codes follow (see :func:`codes.plans.plan_change`).

    Codes cannot be changed, so each choice says which codes are kept, which are added and
    which are superseded. The choice is recomputed on submit, like the reservation form's.
    """

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

    def __init__(
        self,
        *args: Any,
        reservation: Reservation,
        now: datetime | None = None,
        preview: bool = False,
        **kwargs: Any,
    ) -> None:
        """``preview``: the dates only (the page's "show what happens" step), no choice required yet."""
        super().__init__(*args, **kwargs)
        self.reservation = reservation
        self.now = now
        self.plans: list[ChangePlan] = []
        self.no_plan_reasons: list[str] = []
        if preview:
            self.fields["plan"].required = False
        arrival, departure = _value_so_far(self, "arrival"), _value_so_far(self, "departure")
        if (
            arrival
            and departure
            and (arrival, departure) != (reservation.arrival, reservation.departure)
            and stay_refusal(arrival, departure, now=now) is None
        ):
            lock = reservation.lock
            if lock.timezone_problem:
                self.no_plan_reasons = [f"No codes can be made for this door. {lock.timezone_problem}"]
            else:
                self.plans = change_plans(reservation, arrival=arrival, departure=departure, now=now)
                if not self.plans:
                    self.no_plan_reasons = (
                        self._extension_reasons(arrival, departure)
                        or explain_no_windows(
                            lock.time_slots, arrival=arrival, departure=departure, now=now, lock_timezone=lock.timezone
                        )
                        or ["No code of this door fits these dates: try other dates."]
                    )
        plan_field = self.fields["plan"]
        assert isinstance(plan_field, forms.ChoiceField)
        plan_field.choices = [(p.key, p.summary) for p in self.plans]

    def _extension_reasons(self, arrival: date, departure: date) -> list[str]:
        """Why a stay under way cannot be extended without a gap, when that is the reason."""
        old = self.reservation
        codes = current_codes(old)
        if not codes or arrival > old.arrival or departure < old.departure:
            return []
        last = max(codes, key=lambda code: code.ends_at)
        zone = ZoneInfo(last.timezone)
        today = (self.now or timezone.now()).astimezone(zone).date()
        if arrival < old.arrival and arrival <= today:
            # The new arrival has passed: that is the reason, and explain_no_windows says it.
            return []
        ends = last.ends_at.astimezone(zone)
        return [
            f"The guest's code works until {format_local(ends)} ({last.timezone}, {zone_abbreviation(ends)}). "
            "A continuation code must start before then and in the future, and no level of this door has a "
            "check-in in between. Book the extra nights as a new reservation from the next check-in (the "
            "guest will be without a working code in between: arrange a key), or choose other dates."
        ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        arrival, departure = cleaned.get("arrival"), cleaned.get("departure")
        if arrival and departure:
            refusal = stay_refusal(arrival, departure, now=self.now)
            if refusal is not None:
                _add_stay_refusal(self, refusal)
            elif (arrival, departure) == (self.reservation.arrival, self.reservation.departure):
                self.add_error(None, "These are the stay's dates already: change the arrival or the departure.")
        # The chosen plan, the door's room for its codes and its zones are checked again by
        # reservation_change_dates under the reservation's row lock; its refusal is shown here.
        return cleaned
