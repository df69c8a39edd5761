"""The editor of what a site's guests read: per site and language, the code email's subject and
body and the guest page's directions, in the placeholder language of ``codes.placeholders``.

Staff of the site only (another site answers 404). *Preview* renders the email and the
directions for a made-up stay (sample guest and PINs, the site's first unit and its real doors)
and saves nothing; *Save* checks every text first and shows each mistake beside its field with
its line and column; *Start from the built-in text* fills the email's fields with the built-in
text in that language, to edit.
"""

from dataclasses import dataclass
from typing import Any

from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone, translation
from django.utils.safestring import SafeString
from django.utils.translation import gettext, gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from codes.emails import GuestEmail, guest_email_render
from codes.guest_messages import (
    FIELDS,
    PLACEHOLDERS,
    builtin_texts,
    directions_html,
    message_errors,
    sample_stay,
    site_message_save,
)
from codes.guestlinks import guest_link_url
from codes.models import GuestLink
from codes.placeholders import TemplateError
from codes.selectors import site_today
from front.actions import staff_user
from properties.models import Site, SiteMessage
from properties.selectors import sites_for_user

# Far more than any email needs, and little enough that a pasted file is refused with words.
BODY_MAX_CHARS = 20_000


def _textarea(rows: int) -> forms.Textarea:
    return forms.Textarea(attrs={"rows": rows, "class": "form-control font-monospace"})


class SiteMessageForm(forms.Form):
    email_subject = forms.CharField(
        label=gettext_lazy("Email subject"),
        help_text=gettext_lazy("One line; no {doors} or {link}: phones show subjects on the lock screen."),
        required=False,
        strip=False,
        max_length=SiteMessage._meta.get_field("email_subject").max_length,
        widget=forms.TextInput(attrs={"class": "form-control font-monospace"}),
    )
    # strip=False: the lines and columns in error messages count the text as typed.
    email_body = forms.CharField(
        label=gettext_lazy("Email body"),
        help_text=gettext_lazy(
            "Must contain {doors}, which lists the doors with their PINs. Empty: the built-in email."
        ),
        required=False,
        strip=False,
        max_length=BODY_MAX_CHARS,
        widget=_textarea(16),
    )
    directions = forms.CharField(
        label=gettext_lazy("Directions on the guest page"),
        help_text=gettext_lazy("How to find the building and the door, parking, Wi-Fi… Empty: no directions."),
        required=False,
        strip=False,
        max_length=BODY_MAX_CHARS,
        widget=_textarea(8),
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for name in FIELDS:
            errors = message_errors(name, cleaned.get(name) or "")
            if errors:
                self.add_error(name, [error.message for error in errors])
        return cleaned


@dataclass(frozen=True)
class Preview:
    email: GuestEmail
    directions: SafeString | None
    directions_error: str
    guest_name: str
    unit_name: str
    sample_pins: tuple[str, ...]


def _preview(site: Site, language: str, data: dict[str, str]) -> Preview:
    """The email and directions for a made-up stay, as a guest reading ``language`` would get
    them with these texts; no stay is read, nothing is written."""
    with translation.override(language):
        reservation, codes = sample_stay(site, language, today=site_today(site, now=timezone.now()))
    draft = SiteMessage(
        site=site,
        language=language,
        email_subject=data["email_subject"],
        email_body=data["email_body"],
        directions=data["directions"],
    )
    # A link of the right shape that opens nothing: no stay has this id.
    link = guest_link_url(GuestLink(public_id="sample-stay-preview"))
    email = guest_email_render(code=codes[0], stay_codes=codes, earlier=False, link=link, message=draft)
    directions, directions_error = None, ""
    if data["directions"].strip():
        with translation.override(language):
            try:
                directions = directions_html(data["directions"], reservation, codes)
            except TemplateError as error:
                directions_error = error.message
    return Preview(
        email=email,
        directions=directions,
        directions_error=directions_error,
        guest_name=reservation.guest_name,
        unit_name=reservation.unit.name,
        sample_pins=tuple(code.code for code in codes),
    )


def _language_name(language: str) -> str:
    names = dict(settings.LANGUAGES)
    if language not in names:
        raise Http404("No such language.")
    return str(names[language])


@login_required
@require_GET
def site_messages_index(request: HttpRequest) -> HttpResponse:
    """Each of the person's sites with its languages, and which have texts of their own."""
    sites = list(sites_for_user(user=request.user).order_by("name", "pk"))
    written = {
        (message.site_id, message.language)
        for message in SiteMessage.objects.filter(site__in=sites)
        if message.email_subject or message.email_body or message.directions
    }
    rows = [
        {
            "site": site,
            "languages": [
                {"code": code, "name": name, "own": (site.pk, code) in written, "default": code == site.language}
                for code, name in settings.LANGUAGES
            ],
        }
        for site in sites
    ]
    return render(request, "front/site_messages_index.html", {"rows": rows})


# The preview shows the email's HTML in a sandboxed iframe (srcdoc): no script runs in it, and it
# inherits this page's policy, so the email's own inline style attributes (mail clients need
# them) are allowed on this page, and only they: no inline script, no <style> element.
# (django-csp types a view as taking the request alone.)
@csp_update({"style-src-attr": [UNSAFE_INLINE]})  # type: ignore[arg-type]
@login_required
@require_http_methods(["GET", "POST"])
def site_messages_edit(request: HttpRequest, site_pk: int, language: str) -> HttpResponse:
    site = get_object_or_404(sites_for_user(user=request.user), pk=site_pk)
    language_name = _language_name(language)
    stored = SiteMessage.objects.filter(site=site, language=language).first()
    builtin = builtin_texts(language)
    preview: Preview | None = None
    action = request.POST.get("action", "")

    if request.method != "POST":
        initial = {name: getattr(stored, name) if stored else "" for name in FIELDS}
        form = SiteMessageForm(initial=initial)
    elif action == "builtin":
        # Fill the email's fields with the built-in text to edit; the directions stay as typed.
        data = QueryDict(mutable=True)
        data.update(
            {
                "email_subject": builtin["email_subject"],
                "email_body": builtin["email_body"],
                "directions": request.POST.get("directions", ""),
            }
        )
        form = SiteMessageForm(data)
        form.is_valid()
        messages.info(request, gettext("The built-in text is in the form. Nothing is saved until you save."))
    else:
        form = SiteMessageForm(request.POST)
        if form.is_valid():
            if action == "save":
                site_message_save(site=site, language=language, user=staff_user(request), **form.cleaned_data)
                messages.success(
                    request,
                    gettext("Saved the guest texts of %(site)s in %(language)s.")
                    % {"site": site.name, "language": language_name},
                )
                return redirect("site_messages_edit", site_pk=site.pk, language=language)
            preview = _preview(site, language, form.cleaned_data)

    return render(
        request,
        "front/site_messages.html",
        {
            "site": site,
            "language": language,
            "language_name": language_name,
            "languages": settings.LANGUAGES,
            "stored": stored,
            "form": form,
            "builtin": builtin,
            "placeholders": [
                {
                    "name": name,
                    "text": text,
                    "in_subject": name in FIELDS["email_subject"].allowed,
                    "in_directions": name in FIELDS["directions"].allowed,
                }
                for name, text in PLACEHOLDERS.items()
            ],
            "preview": preview,
        },
    )
