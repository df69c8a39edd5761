"""The only module that speaks HTTP to Seam.

Longer than the house's 400 lines on purpose: the house style keeps every request to Seam,
and the mapping of every failure to our own errors, in this one module. It reads top to
bottom: the errors, the resources as Seam sends them, the client, the plumbing.

Every failure leaves here as a ``SeamError``: ``SeamTransientError`` (try again later;
``ambiguous`` says whether the request may have reached Seam) or ``SeamPermanentError``
(Seam refused; trying again will not help). Nothing outside this module sees a
``requests`` exception.

Reads are retried here. Creating an access code never is: an Oracode code can never be
deleted, so a blind retry could leave a second live code on the door. After an ambiguous
failure the caller looks the code up before creating again.

Never log the API key or a PIN: the logs carry the method, path, status, request id and
duration only.
"""

import logging
import math
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import requests
from django.conf import settings
from urllib3.exceptions import MaxRetryError, NewConnectionError

logger = logging.getLogger(__name__)

USER_AGENT = "oracode-codes/0.1"
ORACODE_MANUFACTURER = "dormakaba_oracode"
ORACODE_DEVICE_TYPE = "dormakaba_oracode_door"
MAX_TIME_ROUNDINGS = ("1h", "1d")

# The longest single wait between read attempts. When Seam asks for longer (Retry-After),
# the read fails at once with ``retry_after`` set: holding a worker asleep for minutes is
# worse than letting the caller reschedule.
MAX_RETRY_WAIT_SECONDS = 30.0
_BACKOFF_BASE_SECONDS = 0.5
# A guard against a cursor that never ends, not a real limit on how many codes a door has.
_MAX_PAGES = 100

_T = TypeVar("_T")


class SeamError(Exception):
    """A failed call to Seam.

    ``error_type`` is Seam's ``error.type`` (``invalid_input``, ``device_not_found``, ...) or,
    when Seam never answered properly, one of ``timeout``, ``connect_timeout``,
    ``connection_error``, ``invalid_response``, ``invalid_request`` or ``http_<status>``.
    """

    def __init__(
        self,
        message: str,
        *,
        error_type: str = "unknown",
        status_code: int | None = None,
        request_id: str | None = None,
        validation_errors: dict[str, Any] | None = None,
        retry_after: float | None = None,
        ambiguous: bool = False,
    ) -> None:
        # Only the message goes to Exception.args, so Celery and pickle can rebuild the error
        # with cls(message); __reduce__ restores the rest.
        super().__init__(message)
        self.message = message
        self.error_type = error_type
        self.status_code = status_code
        self.request_id = request_id
        self.validation_errors = validation_errors
        self.retry_after = retry_after
        self.ambiguous = ambiguous

    @property
    def permanent(self) -> bool:
        """True when trying the same request again cannot succeed."""
        return not isinstance(self, SeamTransientError)

    def __str__(self) -> str:
        context = []
        if self.status_code is not None:
            context.append(f"HTTP {self.status_code}")
        if self.request_id:
            context.append(f"request {self.request_id}")
        where = f" ({', '.join(context)})" if context else ""
        return f"Seam {self.error_type}{where}: {self.message}"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.message,), self.__dict__.copy())


class SeamTransientError(SeamError):
    """Timeouts, connection failures, 429 and 5xx: worth trying again later.

    ``ambiguous`` is True when the request may have reached Seam (read timeout, connection
    dropped after sending, 5xx, a 2xx we could not read) and False when it certainly did not
    (connection refused, connect timeout, 429). After an ambiguous create, look the code up
    before creating it again. ``retry_after`` is Seam's Retry-After in seconds, when sent.
    """


class SeamPermanentError(SeamError):
    """Seam refused the request (4xx other than 429): the same request will fail again."""


@dataclass(frozen=True)
class MaxCodesReached:
    """Seam's ``max_access_codes_reached`` device warning; either count may be missing."""

    active: int | None
    maximum: int | None


def max_codes_reached(warnings: list[Any]) -> MaxCodesReached | None:
    """The ``max_access_codes_reached`` warning among a device's warnings, if it is there."""
    for warning in warnings:
        if isinstance(warning, dict) and warning.get("warning_code") == "max_access_codes_reached":
            return MaxCodesReached(
                active=_count(warning.get("active_access_code_count")),
                maximum=_count(warning.get("max_active_access_code_count")),
            )
    return None


@dataclass(frozen=True)
class SeamLock:
    """A door as Seam describes it; ``time_slots`` are ``predefined_time_slots`` as sent.

    ``max_active_codes_supported`` is Seam's capability property (how many live codes the door
    holds), when Seam knows it; ``connected_account_id`` the account the door comes through.
    """

    device_id: str
    name: str
    timezone: str | None
    site_name: str | None
    time_slots: list[dict[str, Any]]
    can_program_offline_access_codes: bool
    warnings: list[dict[str, Any]]
    errors: list[dict[str, Any]]
    connected_account_id: str | None = None
    max_active_codes_supported: int | None = None

    @property
    def max_codes_reached(self) -> MaxCodesReached | None:
        return max_codes_reached(self.warnings)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "SeamLock":
        """Build from a Seam device object. Raises ValueError when it has no device_id."""
        device_id = _required_str(data, "device_id")
        properties = _dict(data.get("properties"))
        metadata = _dict(properties.get("dormakaba_oracode_metadata"))
        name = (
            _optional_str(data.get("display_name"))
            or _optional_str(properties.get("name"))
            or _optional_str(metadata.get("door_name"))
            or device_id
        )
        return cls(
            device_id=device_id,
            name=name,
            timezone=_optional_str(metadata.get("iana_timezone")),
            site_name=_optional_str(metadata.get("site_name")),
            time_slots=_dicts(metadata.get("predefined_time_slots")),
            can_program_offline_access_codes=data.get("can_program_offline_access_codes") is True,
            **_issues(data),
            connected_account_id=_optional_str(data.get("connected_account_id")),
            max_active_codes_supported=_count(properties.get("max_active_codes_supported")),
        )


@dataclass(frozen=True)
class SeamAccessCode:
    """An access code as Seam describes it. Times are aware UTC datetimes, or None."""

    access_code_id: str
    device_id: str
    name: str | None
    # The PIN: kept out of repr so it never lands in a log line or a traceback.
    code: str | None = field(repr=False)
    status: str
    starts_at: datetime | None
    ends_at: datetime | None
    errors: list[dict[str, Any]]
    warnings: list[dict[str, Any]]
    pending_mutations: list[dict[str, Any]]
    is_offline_access_code: bool
    # The Oracode user level Seam put the code on (``dormakaba_oracode_metadata``): with
    # starts_at and ends_at, what Seam really made, which may be rounded from what was asked.
    user_level_id: str | None = None
    user_level_name: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "SeamAccessCode":
        """Build from a Seam access code object.

        Raises ValueError when the ids are missing or a time is not ISO 8601.
        """
        oracode = _dict(data.get("dormakaba_oracode_metadata"))
        return cls(
            access_code_id=_required_str(data, "access_code_id"),
            device_id=_required_str(data, "device_id"),
            name=_optional_str(data.get("name")),
            code=_optional_str(data.get("code")),
            status=_optional_str(data.get("status")) or "unknown",
            starts_at=parse_seam_time(data.get("starts_at")),
            ends_at=parse_seam_time(data.get("ends_at")),
            **_issues(data),
            pending_mutations=_dicts(data.get("pending_mutations")),
            is_offline_access_code=data.get("is_offline_access_code") is True,
            user_level_id=_optional_str(oracode.get("user_level_id")),
            user_level_name=_optional_str(oracode.get("user_level_name")),
        )


def parse_seam_time(value: object) -> datetime | None:
    """``"2024-09-10T14:00:00.000Z"`` → an aware UTC datetime; None for null or "".

    Raises ValueError for anything else that is not ISO 8601.
    """
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"expected an ISO 8601 string, got {type(value).__name__}")
    text = value.strip()
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        # Seam documents every time it returns as UTC; an offset-less one is still UTC.
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP-date); None if unusable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


class SeamClient:
    """Seam's HTTP API, as far as this project uses it.

    Every method raises ``SeamTransientError`` or ``SeamPermanentError`` on failure (and
    ``ValueError`` for bad arguments, before any request). Reads retry transient failures up
    to ``read_retries`` times with exponential backoff and jitter; creates never retry.
    """

    def __init__(
        self,
        api_key: str,
        endpoint: str = "https://connect.getseam.com",
        timeout: float = 15.0,
        read_retries: int = 3,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        # A key with whitespace would make requests raise InvalidHeader with the key in its
        # message; refuse it here so the key can never reach an error shown on the dashboard.
        if not api_key or re.search(r"\s", api_key):
            raise ValueError("the Seam API key is empty or contains whitespace")
        endpoint = endpoint.strip().rstrip("/")
        if not endpoint.startswith(("https://", "http://")):
            raise ValueError(f"the Seam endpoint must be an http(s) URL, not {endpoint!r}")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        if read_retries < 0:
            raise ValueError("read_retries must not be negative")
        self.endpoint = endpoint
        self.timeout = timeout
        self.read_retries = read_retries
        self._api_key = api_key
        self._session = session or requests.Session()
        self._sleep = sleep
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }

    def __repr__(self) -> str:
        return f"SeamClient(endpoint={self.endpoint!r})"

    # Devices

    def list_locks(self) -> list[SeamLock]:
        """Every dormakaba Oracode door in the workspace; other devices are left out."""
        devices = self._read_list("/devices/list", {"manufacturer": ORACODE_MANUFACTURER}, "devices")
        return [self._parse(SeamLock.from_json, device) for device in devices if _is_oracode_door(device)]

    def get_lock(self, device_id: str) -> SeamLock:
        """One device by id. Raises SeamPermanentError (``device_not_found``) for an unknown id."""
        body = self._read("/devices/get", {"device_id": device_id})
        return self._parse(SeamLock.from_json, self._resource(body, "device"))

    # Access codes

    def create_offline_access_code(
        self,
        *,
        device_id: str,
        name: str,
        starts_at: datetime,
        ends_at: datetime,
        max_time_rounding: str,
    ) -> SeamAccessCode:
        """Create an Oracode offline access code. Called once: never retried here.

        ``starts_at``/``ends_at`` must be aware datetimes in the lock's own zone: they are
        sent with that offset (``2024-09-10T07:00:00-07:00``), as Oracode requires.

        Raises ValueError for naive or reversed times or an unknown rounding, before any
        request. A ``SeamTransientError`` with ``ambiguous`` set means the code may exist.
        """
        for label, value in (("starts_at", starts_at), ("ends_at", ends_at)):
            if value.tzinfo is None or value.utcoffset() is None:
                raise ValueError(f"{label} must be an aware datetime in the lock's time zone")
        if ends_at <= starts_at:
            raise ValueError("ends_at must be after starts_at")
        if max_time_rounding not in MAX_TIME_ROUNDINGS:
            raise ValueError(f"max_time_rounding must be one of {MAX_TIME_ROUNDINGS}, not {max_time_rounding!r}")
        payload = {
            "device_id": device_id,
            "name": name,
            "starts_at": starts_at.isoformat(timespec="seconds"),
            "ends_at": ends_at.isoformat(timespec="seconds"),
            "is_offline_access_code": True,
            "max_time_rounding": max_time_rounding,
        }
        body = self._post("/access_codes/create", payload)
        return self._parse(SeamAccessCode.from_json, self._resource(body, "access_code"))

    def get_access_code(self, access_code_id: str) -> SeamAccessCode:
        """One access code by id. Raises SeamPermanentError (``not_found``) for an unknown id."""
        body = self._read("/access_codes/get", {"access_code_id": access_code_id})
        return self._parse(SeamAccessCode.from_json, self._resource(body, "access_code"))

    def list_access_codes(self, device_id: str) -> list[SeamAccessCode]:
        """Every access code on one device, following Seam's pages."""
        items = self._read_list("/access_codes/list", {"device_id": device_id}, "access_codes")
        # Filter here too: Seam's fake server ignores device_id, and a code for another door
        # mistaken for ours would stop us creating a code the guest needs.
        return [self._parse(SeamAccessCode.from_json, item) for item in items if item.get("device_id") == device_id]

    # Plumbing

    def _read_list(self, path: str, payload: dict[str, Any], key: str) -> list[Mapping[str, Any]]:
        items: list[Mapping[str, Any]] = []
        page_payload = payload
        seen_cursors: set[str] = set()
        for _ in range(_MAX_PAGES):
            body = self._read(path, page_payload)
            page = body.get(key)
            if not isinstance(page, list):
                raise self._invalid_response(f"{path} answered without a {key} list")
            for item in page:
                if not isinstance(item, dict):
                    raise self._invalid_response(f"{path} listed something that is not an object")
                items.append(item)
            pagination = _dict(body.get("pagination"))
            cursor = _optional_str(pagination.get("next_page_cursor"))
            if not pagination.get("has_next_page") or cursor is None:
                return items
            if cursor in seen_cursors:
                raise self._invalid_response(f"{path} repeated a page cursor")
            seen_cursors.add(cursor)
            page_payload = {**payload, "page_cursor": cursor}
        raise self._invalid_response(f"{path} returned more than {_MAX_PAGES} pages")

    def _read(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        """POST a read, retrying transient failures (reads are safe to repeat)."""
        retries_done = 0
        while True:
            try:
                return self._post(path, payload)
            except SeamTransientError as exc:
                if retries_done >= self.read_retries:
                    raise
                wait = self._retry_wait(exc, retries_done)
                if wait is None:
                    raise
                retries_done += 1
                logger.info(
                    "Seam POST %s: %s, retry %d of %d in %.1f s",
                    path,
                    exc.error_type,
                    retries_done,
                    self.read_retries,
                    wait,
                )
                self._sleep(wait)

    def _retry_wait(self, exc: SeamTransientError, retries_done: int) -> float | None:
        """Seconds to wait before the next read attempt, or None to give up now."""
        if exc.retry_after is not None:
            return exc.retry_after if exc.retry_after <= MAX_RETRY_WAIT_SECONDS else None
        ceiling = min(MAX_RETRY_WAIT_SECONDS, _BACKOFF_BASE_SECONDS * 2.0**retries_done)
        # Jitter keeps workers that failed together from retrying together.
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 (not cryptographic)

    def _post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        """One POST. Returns the JSON body of a 2xx answer with ``ok`` not false."""
        started = time.monotonic()
        try:
            response = self._session.post(
                self.endpoint + path,
                json=payload,
                headers=self._headers,
                timeout=self.timeout,
                # A redirect is a misconfigured endpoint; following one could resend a create.
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            error = self._error_from_exception(exc)
            logger.info(
                "Seam POST %s failed: %s after %.0f ms", path, error.error_type, (time.monotonic() - started) * 1000
            )
            raise error from exc

        request_id = response.headers.get("seam-request-id")
        logger.debug(
            "Seam POST %s -> %d (request %s, %.0f ms)",
            path,
            response.status_code,
            request_id,
            (time.monotonic() - started) * 1000,
        )
        if 200 <= response.status_code < 300:
            body = _json_object(response)
            if body is None:
                raise SeamTransientError(
                    "Seam answered without a JSON object",
                    error_type="invalid_response",
                    status_code=response.status_code,
                    request_id=request_id,
                    ambiguous=True,
                )
            if body.get("ok") is False:
                seam_error = _dict(body.get("error"))
                raise SeamTransientError(
                    self._redact(_optional_str(seam_error.get("message")) or 'Seam answered "ok": false'),
                    error_type=_optional_str(seam_error.get("type")) or "invalid_response",
                    status_code=response.status_code,
                    request_id=request_id,
                    ambiguous=True,
                )
            return body
        raise self._error_from_response(response, request_id)

    def _error_from_response(self, response: requests.Response, request_id: str | None) -> SeamError:
        status = response.status_code
        body = _json_object(response)
        error = _dict(body.get("error")) if body is not None else {}
        error_type = _optional_str(error.get("type")) or f"http_{status}"
        message = _optional_str(error.get("message")) or (
            f"HTTP {status} from Seam" if body is not None else f"HTTP {status} from Seam without a JSON body"
        )
        validation_errors = error.get("validation_errors")
        details: dict[str, Any] = {
            "error_type": error_type,
            "status_code": status,
            "request_id": request_id,
            "validation_errors": validation_errors if isinstance(validation_errors, dict) else None,
        }
        message = self._redact(message)
        if status == 429:
            # The rate limiter answers before the request is handled: nothing was created.
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            return SeamTransientError(message, retry_after=retry_after, ambiguous=False, **details)
        if status >= 500 or status == 408:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            return SeamTransientError(message, retry_after=retry_after, ambiguous=True, **details)
        return SeamPermanentError(message, **details)

    def _error_from_exception(self, exc: requests.RequestException) -> SeamError:
        message = self._redact(str(exc) or type(exc).__name__)
        # ConnectTimeout is also a ConnectionError, so it goes first.
        if isinstance(exc, requests.ConnectTimeout):
            return SeamTransientError(message, error_type="connect_timeout", ambiguous=False)
        if isinstance(exc, requests.Timeout):
            # A read timeout: Seam may have received the request and acted on it.
            return SeamTransientError(message, error_type="timeout", ambiguous=True)
        if isinstance(exc, requests.ConnectionError):
            return SeamTransientError(message, error_type="connection_error", ambiguous=not _never_sent(exc))
        if isinstance(
            exc,
            requests.exceptions.InvalidURL
            | requests.exceptions.InvalidSchema
            | requests.exceptions.MissingSchema
            | requests.exceptions.InvalidHeader
            | requests.exceptions.URLRequired,
        ):
            return SeamPermanentError(message, error_type="invalid_request")
        # Anything else (a body cut off mid-read, bad encoding) happened after sending.
        return SeamTransientError(message, error_type="invalid_response", ambiguous=True)

    def _resource(self, body: dict[str, Any], key: str) -> dict[str, Any]:
        resource = body.get(key)
        if not isinstance(resource, dict):
            raise self._invalid_response(f"Seam answered without {key}")
        return resource

    def _parse(self, factory: Callable[[Mapping[str, Any]], _T], data: Mapping[str, Any]) -> _T:
        try:
            return factory(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise self._invalid_response(f"could not read Seam's answer: {exc}") from exc

    def _invalid_response(self, message: str) -> SeamTransientError:
        # Seam said 2xx, so a create may have happened even though we cannot read the answer.
        return SeamTransientError(self._redact(message), error_type="invalid_response", ambiguous=True)

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key, "[api key]")


def seam_client_from_settings() -> SeamClient:
    """A client for the Seam configured in settings (the real API or the simulator)."""
    return SeamClient(
        api_key=settings.SEAM_API_KEY,
        endpoint=settings.SEAM_ENDPOINT,
        timeout=settings.SEAM_TIMEOUT_SECONDS,
    )


def _never_sent(exc: requests.ConnectionError) -> bool:
    """True when the connection was never made (refused, DNS failure): Seam saw nothing."""
    reason = exc.args[0] if exc.args else None
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    return isinstance(reason, NewConnectionError)


def _is_oracode_door(device: Mapping[str, Any]) -> bool:
    # Seam filters by manufacturer already; this also covers servers that ignore the filter.
    properties = _dict(device.get("properties"))
    return device.get("device_type") == ORACODE_DEVICE_TYPE or isinstance(
        properties.get("dormakaba_oracode_metadata"), dict
    )


def _json_object(response: requests.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _issues(data: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """A resource's ``errors`` and ``warnings``, each a list of objects."""
    return {"errors": _dicts(data.get("errors")), "warnings": _dicts(data.get("warnings"))}


def _dicts(value: object) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, dict)]


def _optional_str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _count(value: object) -> int | None:
    """A count Seam sends as a JSON number: a non-negative whole number, else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not value.is_integer():
        return None
    return int(value) if value >= 0 else None


def _required_str(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{key} is missing")
    return value
