"""Fetching a feed: one conditional GET, with timeouts and a size cap, to public addresses only.

A feed URL is typed in by staff (or sent through the API), so it is treated as hostile: only
http and https; every address its host resolves to must be public unless
``FEEDS_ALLOW_PRIVATE_ADDRESSES`` (development and tests: the embedded defaults serve feeds from
127.0.0.1); redirects are followed by hand, on the same host only, a few at most; the body is
read in chunks and dropped past ``FEEDS_MAX_BYTES``.
"""

import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from django.conf import settings

from codes.errors import Refused

MAX_REDIRECTS = 3
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Fetched:
    """What the channel answered: ``body`` None when it said nothing changed (304)."""

    body: bytes | None
    etag: str
    last_modified: str


def fetch_feed(url: str, *, etag: str = "", last_modified: str = "") -> Fetched:
    """GET the feed, conditionally on what the last good fetch saw; raises ``Refused`` with
    words for staff on any failure (nothing is changed then)."""
    headers = {"User-Agent": "oracode-codes feed sync", "Accept": "text/calendar, */*;q=0.5"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    host = urlsplit(url).hostname
    for _ in range(MAX_REDIRECTS + 1):
        _refuse_address(url)
        try:
            response = requests.get(
                url,
                headers=headers,
                timeout=(settings.FEEDS_CONNECT_TIMEOUT_SECONDS, settings.FEEDS_READ_TIMEOUT_SECONDS),
                allow_redirects=False,
                stream=True,
            )
        except requests.Timeout as exc:
            raise Refused("The channel did not answer in time. It will be tried again at the next sync.") from exc
        except requests.RequestException as exc:
            raise Refused(f"The feed could not be reached: {type(exc).__name__}.") from exc
        with response:
            if response.is_redirect:
                target = urljoin(url, response.headers.get("Location", ""))
                if urlsplit(target).hostname != host or urlsplit(target).scheme not in {"http", "https"}:
                    raise Refused(f"The feed redirects to another host ({urlsplit(target).hostname}): not followed.")
                url = target
                continue
            if response.status_code == 304:
                return Fetched(body=None, etag=etag, last_modified=last_modified)
            if response.status_code != 200:
                raise Refused(
                    f"The channel answered HTTP {response.status_code} {response.reason or ''}".strip() + "."
                )
            body = _read_capped(response)
            return Fetched(
                body=body,
                etag=response.headers.get("ETag", "")[:500],
                last_modified=response.headers.get("Last-Modified", "")[:100],
            )
    raise Refused(f"The feed redirects more than {MAX_REDIRECTS} times.")


def _read_capped(response: requests.Response) -> bytes:
    limit = settings.FEEDS_MAX_BYTES
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        raise Refused(f"The feed is over the size limit of {limit // 1_000_000} MB.")
    chunks, size = [], 0
    # The read timeout bounds each read, not the whole body: a channel trickling a byte at a
    # time would hold the sync (and a person waiting on "Sync now") for ever. So the whole read
    # gets the read timeout too, checked after every single receive (read1 returns what one
    # receive brought, where read(n) would wait for all n bytes).
    # (perf_counter: a monotonic clock that test clocks leave running.)
    deadline = time.perf_counter() + settings.FEEDS_READ_TIMEOUT_SECONDS
    try:
        while chunk := response.raw.read1(_CHUNK, decode_content=True):
            if time.perf_counter() > deadline:
                raise Refused("The channel did not answer in time. It will be tried again at the next sync.")
            size += len(chunk)
            if size > limit:
                raise Refused(f"The feed is over the size limit of {limit // 1_000_000} MB.")
            chunks.append(chunk)
    except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
        if isinstance(exc, urllib3.exceptions.ReadTimeoutError):
            raise Refused("The channel did not answer in time. It will be tried again at the next sync.") from exc
        raise Refused(f"The feed broke off while being read: {type(exc).__name__}.") from exc
    return b"".join(chunks)


def _refuse_address(url: str) -> None:
    """Refuse a URL that is not http(s), or whose host is (or resolves to) a private, loopback,
    link-local or otherwise non-public address, unless the setting allows them."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise Refused("A feed address must start with http:// or https:// and name a host.")
    if settings.FEEDS_ALLOW_PRIVATE_ADDRESSES:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    except (socket.gaierror, UnicodeError) as exc:
        raise Refused(f"The feed's host {parts.hostname} could not be found.") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise Refused(f"The feed's host {parts.hostname} is a private or local address: not fetched.")
