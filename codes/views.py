"""Seam's webhooks: the one page of this app that Seam, not a person, calls."""

import json
import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from codes import webhooks
from codes.models import WebhookDelivery

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
