import json
import logging

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from codes import selectors, services, webhooks
from codes.models import AccessCode, WebhookDelivery
from config.queueing import watch_queueing

logger = logging.getLogger(__name__)


@csrf_exempt
@require_POST
def seam_webhook(request: HttpRequest) -> HttpResponse:
    """Seam's webhooks (delivered by Svix): verify the signature on the raw body, then record.

    Bad or stale signatures get 401 and nothing is recorded; a signed body this app cannot
    take (not a JSON object, nested too deep) gets 400; a redelivery (same id) is acknowledged
    without doing anything twice. The headers may come as ``svix-*`` or, from Svix's unbranded
    endpoints, ``webhook-*``.
    """
    if not settings.SEAM_WEBHOOK_SECRET:
        return HttpResponse("Webhooks are not configured (SEAM_WEBHOOK_SECRET).", status=503)
    try:
        webhook = Webhook(settings.SEAM_WEBHOOK_SECRET)
    except ValueError:
        # A secret that is not base64 after whsec_ is our misconfiguration, not a bad sender.
        logger.error("SEAM_WEBHOOK_SECRET is not a valid Svix secret (whsec_ followed by base64)")
        return HttpResponse("Webhooks are misconfigured (SEAM_WEBHOOK_SECRET).", status=503)
    headers = {
        f"webhook-{name}": request.headers.get(f"webhook-{name}") or request.headers.get(f"svix-{name}", "")
        for name in ("id", "timestamp", "signature")
    }
    try:
        payload = webhook.verify(request.body, headers)
    except (json.JSONDecodeError, RecursionError):
        # verify() parses the body only after a signature matched: signed, but not JSON we can
        # read (RecursionError: arrays or objects nested deeper than the parser goes).
        logger.warning("Refused a signed Seam webhook whose body is not readable JSON (id %s)", headers["webhook-id"])
        return HttpResponse("Expected a JSON object.", status=400)
    except (WebhookVerificationError, ValueError) as exc:
        # ValueError: malformed headers (a signature without "v1,", bad base64) or a non-UTF-8 body.
        logger.warning("Refused a Seam webhook: %s", exc)
        return HttpResponse("Invalid signature.", status=401)
    if not isinstance(payload, dict):
        return HttpResponse("Expected a JSON object.", status=400)
    if len(headers["webhook-id"]) > WebhookDelivery.SVIX_ID_MAX_LENGTH:
        return HttpResponse("svix-id too long.", status=400)
    try:
        webhooks.webhook_receive(svix_id=headers["webhook-id"], payload=payload)
    except webhooks.PayloadRefused as exc:
        logger.warning("Refused a signed Seam webhook (id %s): %s", headers["webhook-id"], exc)
        return HttpResponse(f"Refused: {exc}.", status=400)
    return HttpResponse(status=204)


# Staff actions on one code. Each checks that the code belongs to one of the person's sites
# (404 otherwise) and answers with the code's cell, which htmx swaps in place.


def staff_user(request: HttpRequest) -> User:
    # login_required ran first: the user is a signed-in account, never AnonymousUser.
    assert isinstance(request.user, User)
    return request.user


def _cell(request: HttpRequest, code: AccessCode, *, revealed: bool = False, notice: str = "") -> HttpResponse:
    # On the reservation's page (?detail=1) the cell carries the email log and the history too,
    # so that both show what the action just did.
    detail = request.GET.get("detail") == "1"
    if detail:
        code = selectors.access_code_with_history(pk=code.pk)
    context = {
        "code": code,
        "revealed": revealed,
        "notice": notice,
        "detail": detail,
        "lead": selectors.is_stay_lead(code),
    }
    return render(request, "codes/_code_cell.html", context)


@login_required
@require_GET
def code_cell(request: HttpRequest, pk: int) -> HttpResponse:
    """htmx polling: the code's current state."""
    return _cell(request, selectors.access_code_for_user(user=request.user, pk=pk))


@never_cache
@login_required
@require_POST
def code_reveal(request: HttpRequest, pk: int) -> HttpResponse:
    """Show the PIN once, and record who saw it and when. Never stored by a cache on the way
    (``Cache-Control: no-store``): the only copy of the PIN is the one on the screen."""
    code = selectors.access_code_for_user(user=request.user, pk=pk)
    if not code.code:
        return _cell(request, code, notice="Seam has not given this code a PIN yet.")
    services.access_code_reveal(access_code=code, user=staff_user(request))
    return _cell(request, code, revealed=True)


@login_required
@require_POST
def code_retry(request: HttpRequest, pk: int) -> HttpResponse:
    code = selectors.access_code_for_user(user=request.user, pk=pk)
    try:
        with watch_queueing() as queueing:
            code = services.access_code_retry(access_code=code, user=staff_user(request))
    except ValueError as exc:
        return _cell(request, code, notice=str(exc))
    if queueing.failed:
        return _cell(request, code, notice="Retry saved: the code is created as soon as the task queue answers again.")
    return _cell(request, code, notice="Retrying: the code is being created again.")


@login_required
@require_POST
def code_email(request: HttpRequest, pk: int) -> HttpResponse:
    """Queue the guest email (or a resend, on purpose)."""
    from codes.emails import code_email_request

    code = selectors.access_code_for_user(user=request.user, pk=pk)
    try:
        with watch_queueing() as queueing:
            email = code_email_request(
                access_code=code, user=staff_user(request), resend=request.POST.get("resend") == "1"
            )
    except ValueError as exc:
        return _cell(request, code, notice=str(exc))
    if queueing.failed:
        notice = f"Email to {email.to_address} saved: it goes out as soon as the task queue answers again."
    else:
        notice = f"Email to {email.to_address} queued."
    return _cell(request, code, notice=notice)
