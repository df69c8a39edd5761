"""Seam's error types in plain words, with what staff can do about them."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Advice:
    summary: str
    action: str


_ADVICE: dict[str, Advice] = {
    # An error Seam puts on a code it accepted (answered 200) fails the code for good: Seam holds
    # it, so it cannot be retried, and an Oracode code can never be deleted.
    "provider_issue": Advice(
        "Seam accepted the code, then dormakaba refused it (most often: no time slot on the door matches "
        "the code's window, because the door's slots changed).",
        "Sync the doors so the form offers what the door takes now, then cancel this reservation and book "
        "it again. Keep a key ready for the guest meanwhile.",
    ),
    "duplicate_code_on_device": Advice(
        "The lock already holds a code with the same PIN.",
        "Contact dormakaba support; cancel this reservation and book it again for a new code.",
    ),
    "failed_to_issue": Advice(
        "Seam could not issue the code before its start.",
        "Keep a key ready for the guest and check the door in dormakaba; Seam keeps trying.",
    ),
    "code_constraints_violated": Advice(
        "The code breaks one of the door's rules for codes.",
        "Sync the doors and book the stay again with a window the door offers.",
    ),
    "device_disconnected": Advice(
        "Seam has lost contact with this door.",
        "Check the door and its dormakaba site; once Seam sees it again, book the stay again.",
    ),
    "account_disconnected": Advice(
        "Seam's connection to the dormakaba account is broken.",
        "An administrator must reconnect the dormakaba account in Seam's console.",
    ),
    "dormakaba_sites_disconnected": Advice(
        "Seam could not connect one or more dormakaba sites of the account.",
        "Contact dormakaba support, then reconnect the account in Seam's console.",
    ),
    "dormakaba_oracode_invalid_time_range": Advice(
        "Seam found no time slot on this door that matches the code's window.",
        "The door's time slots may have changed in dormakaba. Sync the doors, then retry the code.",
    ),
    "invalid_input": Advice(
        "Seam refused the request as invalid.",
        "Check the door's time slots and the stay's dates; retry, or book the stay again with another window.",
    ),
    "device_not_found": Advice(
        "Seam no longer knows this door.",
        "Sync the doors. If the door was removed from dormakaba, book the stay on another door.",
    ),
    "unauthorized": Advice(
        "Seam refused this app's API key.",
        "An administrator must check SEAM_API_KEY; then retry the code.",
    ),
    "not_set_in_time": Advice(
        "Seam never reported the code as set before its window ended.",
        "Let the guest in another way and contact dormakaba support about the door.",
    ),
    "failed_to_set_on_device": Advice(
        "The lock system could not register the code.",
        "Keep a key ready for the guest; the code is retried by Seam. Contact dormakaba support if it persists.",
    ),
    "no_space_for_access_code_on_device": Advice(
        "The lock has no room for more codes (Oracode codes stay on the lock until they end).",
        "Book the stay on another door, or wait until codes on this one end; dormakaba support can free room.",
    ),
    "time_zone_mismatch": Advice(
        "Not sent to Seam: this door's time zones disagree, so the code could be off by hours.",
        "Have the time zone corrected (see the message below), sync the doors, then retry the code.",
    ),
    "rate_limited": Advice(
        "Seam asked us to slow down (too many codes for this door in a minute).",
        "Nothing to do: the code is retried automatically.",
    ),
    "timeout": Advice(
        "Seam did not answer in time.",
        "Nothing to do: the code is checked at Seam and retried automatically, never created twice.",
    ),
    "connection_error": Advice(
        "Seam could not be reached.",
        "Nothing to do: the code is retried automatically. If it lasts, check the server's internet access.",
    ),
}

_TRANSIENT = Advice(
    "Seam had a temporary problem.",
    "Nothing to do: the code is retried automatically.",
)
_UNKNOWN = Advice(
    "Seam reported an error.",
    "Retry the code; if it fails again, contact support with the error type and message shown.",
)


def explain_error(error_type: str) -> Advice:
    """Plain words and a next step for one of Seam's error types (or our own)."""
    if error_type in _ADVICE:
        return _ADVICE[error_type]
    if error_type.startswith("http_5") or error_type in {"connect_timeout", "invalid_response", "server_error"}:
        return _TRANSIENT
    return _UNKNOWN
