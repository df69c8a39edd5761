from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

if TYPE_CHECKING:
    from properties.models import Unit


class AccessCodeQuerySet(models.QuerySet["AccessCode"]):
    """The rules about which codes count for what, each written once (``AccessCode`` holds the
    same rules for one row in memory, where a list is prefetched)."""

    def current(self) -> "AccessCodeQuerySet":
        """The codes a guest should use: not replaced by a date change, withdrawn or failed."""
        return self.filter(superseded_at__isnull=True).exclude(
            status__in=[AccessCode.Status.CANCELLED, AccessCode.Status.FAILED]
        )

    def may_exist_at_seam(self) -> "AccessCodeQuerySet":
        """Codes Seam holds or may hold: all but those withdrawn, or failed before any create
        call could have reached Seam. Each opens its door, and holds a place on it, until it ends."""
        return self.exclude(status=AccessCode.Status.CANCELLED).exclude(
            status=AccessCode.Status.FAILED, seam_access_code_id="", create_sent=False
        )

    def live(self, now: datetime) -> "AccessCodeQuerySet":
        """Codes that hold a place on their lock now (Oracode codes cannot be revoked)."""
        return self.may_exist_at_seam().filter(ends_at__gt=now)

    def needed(self, now: datetime) -> "AccessCodeQuerySet":
        """Codes a guest still counts on: of a stay that stands, not replaced or withdrawn, not
        ended (a failed one included: the guest still has no code)."""
        return self.filter(
            superseded_at__isnull=True, reservation__cancelled_at__isnull=True, ends_at__gt=now
        ).exclude(status=AccessCode.Status.CANCELLED)


class AccessCode(models.Model):
    """One offline Oracode PIN for one reservation, and where it stands at Seam.

    Oracode codes can never be changed or deleted, so the row records the intent
    (status ``creating``) before Seam is called and keeps a stable ``name`` by which
    the code can be found again at Seam after an ambiguous failure.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        CREATING = "creating", "Creating"
        WAITING = "waiting", "Waiting for the lock system"
        SET = "set", "Set"
        FAILED = "failed", "Failed"
        # Withdrawn before any create call was sent: Seam never held it.
        CANCELLED = "cancelled", "Cancelled before creation"

    class LedgerReason(models.TextChoices):
        """Why a live code opens the door on days nobody has booked."""

        NONE = "", "None"
        CANCELLED = "cancelled", "Stay cancelled"
        SHORTENED = "shortened", "Stay shortened"
        MOVED = "moved", "Stay moved"

    class Escalation(models.TextChoices):
        NONE = "", "None"
        WARNING = "warning", "Warning"
        URGENT = "urgent", "Urgent"

    class Rounding(models.TextChoices):
        HOURLY = "1h", "Hourly-bound"
        DAILY = "1d", "Daily-bound"

    reservation = models.ForeignKey("properties.Reservation", on_delete=models.PROTECT, related_name="access_codes")
    lock = models.ForeignKey("locks.Lock", on_delete=models.PROTECT, related_name="access_codes")
    name = models.CharField(max_length=100, unique=True, help_text="Stable name sent to Seam; finds the code again.")

    slot_name = models.CharField(max_length=200, blank=True)
    user_level_id = models.CharField(max_length=64, blank=True)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    timezone = models.CharField(max_length=64, help_text="The slot's zone: the window is in this local time.")
    max_time_rounding = models.CharField(max_length=2, choices=Rounding.choices, default=Rounding.HOURLY)

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    seam_access_code_id = models.CharField(max_length=64, blank=True)
    seam_status = models.CharField(max_length=32, blank=True)
    code = models.CharField(max_length=32, blank=True, help_text="The PIN, once Seam knows it.")
    errors = models.JSONField(default=list, blank=True)
    warnings = models.JSONField(default=list, blank=True)
    last_error_type = models.CharField(max_length=100, blank=True)
    last_error_message = models.TextField(blank=True)
    # What Seam made when it differs from what was asked (Seam rounds a window to the nearest
    # user level within max_time_rounding): "" while they agree, or while Seam has not said.
    seam_window_mismatch = models.TextField(blank=True)
    pending_mutations = models.JSONField(default=list, blank=True)
    attempts = models.PositiveIntegerField(default=0, help_text="Create attempts so far.")
    checks = models.PositiveIntegerField(default=0, help_text="Status checks at Seam so far.")
    # True from just before a create call until its outcome is known for sure: while it is
    # set, Seam may hold a code we have no id for, so look it up before creating again.
    create_sent = models.BooleanField(default=False)
    claim_expires_at = models.DateTimeField(null=True, blank=True)
    next_check_at = models.DateTimeField(null=True, blank=True)
    # When the code first found its door's create budget spent: its place in the door's line
    # (codes.rate_limit) until its create goes out, however often it wakes before its turn.
    in_line_since = models.DateTimeField(null=True, blank=True)
    set_at = models.DateTimeField(null=True, blank=True)
    escalation = models.CharField(max_length=8, choices=Escalation.choices, blank=True)

    # A date change replaced this code; it stays live at Seam until it ends (Oracode codes
    # cannot be deleted), but the guest's current codes are the others.
    superseded_at = models.DateTimeField(null=True, blank=True)
    # Set when the code opens the door on days the reservation no longer books (a cancelled,
    # shortened or moved stay): it is listed in the door's ledger of live codes.
    ledger_reason = models.CharField(max_length=16, choices=LedgerReason.choices, blank=True)
    ledger_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AccessCodeQuerySet.as_manager()

    class Meta:
        ordering = ["starts_at"]
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="access_code_ends_after_start"),
            models.UniqueConstraint(
                fields=["seam_access_code_id"],
                condition=~Q(seam_access_code_id=""),
                name="access_code_unique_seam_id",
            ),
        ]
        indexes = [
            models.Index(fields=["next_check_at"], condition=Q(next_check_at__isnull=False), name="access_code_due"),
            # The sweep's work queue (codes.sweeping.access_codes_due_rows): only codes still in
            # flight, so its cost follows them and not the history of set, failed and cancelled
            # codes. Plain ascending (SQLite refuses NULLS FIRST in an index).
            models.Index(
                fields=["next_check_at", "id"],
                condition=Q(status__in=["pending", "creating", "waiting"]),
                name="access_code_sweep",
            ),
            models.Index(fields=["lock", "ends_at"], name="access_code_lock_ends"),
            # The ledger (codes.selectors.ledger_codes): its codes nobody acknowledged yet, and
            # its acknowledged ones by end, so that the ones still live are a range. Neither
            # holds the codes of stays that never changed.
            models.Index(
                fields=["ends_at"],
                condition=~Q(ledger_reason="") & Q(acknowledged_at__isnull=True),
                name="access_code_ledger_open",
            ),
            models.Index(
                fields=["ends_at"],
                condition=~Q(ledger_reason="") & Q(acknowledged_at__isnull=False),
                name="access_code_ledger_acked",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_current(self) -> bool:
        """One of the codes the guest should use (see ``AccessCodeQuerySet.current``)."""
        return self.superseded_at is None and self.status not in (self.Status.CANCELLED, self.Status.FAILED)

    @property
    def is_settled(self) -> bool:
        """Nothing more will change on its own: set, failed or withdrawn, and its latest email
        (emails are prefetched newest first) no longer on its way. Pages poll until then."""
        if self.status not in (self.Status.SET, self.Status.FAILED, self.Status.CANCELLED):
            return False
        latest = next(iter(self.emails.all()), None)
        return latest is None or latest.status not in (CodeEmail.Status.QUEUED, CodeEmail.Status.SENDING)

    @property
    def can_be_retried(self) -> bool:
        """A failed code Seam never created may be asked for again; one Seam holds cannot be
        replaced (it stays on the lock until it ends)."""
        return self.status == self.Status.FAILED and not self.seam_access_code_id


class AccessCodeEvent(models.Model):
    """One step in a code's history, shown to staff: created, set, failed, PIN revealed, ..."""

    class Kind(models.TextChoices):
        REQUESTED = "requested", "Requested"
        CREATE_SENT = "create_sent", "Sent to Seam"
        CREATED = "created", "Created at Seam"
        ADOPTED = "adopted", "Found at Seam after an interrupted create"
        RETRY = "retry", "Retry scheduled"
        STATUS = "status", "Status from Seam"
        SET = "set", "Set on the lock system"
        FAILED = "failed", "Failed"
        ESCALATED = "escalated", "Escalated"
        WEBHOOK = "webhook", "Webhook from Seam"
        REVEALED = "revealed", "PIN revealed"
        EMAILED = "emailed", "Emailed to guest"
        DATES_CHANGED = "dates_changed", "Stay's dates changed"
        SUPERSEDED = "superseded", "Superseded by a date change"
        CANCELLED = "cancelled", "Cancelled"
        LEDGER = "ledger", "Listed in the ledger of live codes"
        ACKNOWLEDGED = "acknowledged", "Acknowledged by staff"
        WINDOW_MISMATCH = "window_mismatch", "Seam made another window than asked"
        ALERTED = "alerted", "Staff alerted"
        GUEST_CHANGED = "guest_changed", "Guest details corrected"
        SHOWN_TO_GUEST = "shown_to_guest", "Shown to guest"

    access_code = models.ForeignKey(AccessCode, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(auto_now_add=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    message = models.TextField(blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at {self.at:%Y-%m-%d %H:%M}"


class SeamCreateCall(models.Model):
    """Every create call sent to Seam, per door: the ledger behind the per-door rate limit."""

    lock = models.ForeignKey("locks.Lock", on_delete=models.CASCADE, related_name="create_calls")
    access_code = models.ForeignKey(AccessCode, on_delete=models.CASCADE, related_name="create_calls")
    sent_at = models.DateTimeField(db_index=True)
    # When the call came back (an answer, an error or a timeout): Seam counted it by then. Empty
    # while it is on its way, or if its worker died in the call.
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["lock", "sent_at"])]

    def __str__(self) -> str:
        return f"{self.lock_id} at {self.sent_at:%H:%M:%S}"


class WebhookDelivery(models.Model):
    """A verified Seam webhook, kept by its svix-id so a redelivery is recognised."""

    SVIX_ID_MAX_LENGTH = 100

    svix_id = models.CharField(max_length=SVIX_ID_MAX_LENGTH, unique=True)
    event_type = models.CharField(max_length=100)
    seam_access_code_id = models.CharField(max_length=64, blank=True)
    payload = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-received_at"]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"{self.event_type} ({self.svix_id})"


class CodeEmail(models.Model):
    """One sending of a code to its guest: who asked, when, to which address, and how it went.

    A send is claimed with a conditional UPDATE (``queued`` → ``sending``), so a task delivered
    twice sends once. A failure stays on the row with its error, where staff see it.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    access_code = models.ForeignKey(AccessCode, on_delete=models.CASCADE, related_name="emails")
    to_address = models.EmailField()
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_at = models.DateTimeField(auto_now_add=True)
    # When its send task was last put on the queue: a row still queued long after this lost its
    # task (the broker was down or flushed), and the sweep queues it again.
    queued_at = models.DateTimeField(default=timezone.now)
    is_resend = models.BooleanField(default=False, help_text="Staff asked to send the code again.")
    is_automatic = models.BooleanField(default=False, help_text="Sent on its own by the site's email policy.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    # When a worker took the send: a row still "sending" long after this belongs to a worker
    # that died mid-send, and whether the guest got the email is unknown.
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-requested_at", "-pk"]
        constraints = [
            # A double click (or two staff at once) queues one email, not two.
            models.UniqueConstraint(
                fields=["access_code"],
                condition=Q(status__in=["queued", "sending"]),
                name="code_email_one_in_flight",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.to_address} ({self.status})"


class StaffAlert(models.Model):
    """A problem at Seam that staff must hear of now: on the dashboard, and emailed once.

    ``key`` names the problem (``code_failed:<code id>``, ``door_disconnected:<lock id>``, ...).
    It is unique among open alerts, so a webhook delivered twice, or two workers seeing the
    same error at once, raise one alert; once resolved, the same problem coming back (a door
    disconnected again) raises a new one.
    """

    class Kind(models.TextChoices):
        CODE_FAILED = "code_failed", "Code failed at Seam"
        WINDOW_MISMATCH = "window_mismatch", "Seam made another window"
        CODE_REMOVED = "code_removed", "Code no longer on the lock"
        DOOR_DISCONNECTED = "door_disconnected", "Door disconnected"
        DOOR_REMOVED = "door_removed", "Door removed from Seam"
        ACCOUNT_DISCONNECTED = "account_disconnected", "dormakaba account disconnected"
        STAY_NEEDS_ATTENTION = "stay_needs_attention", "Stay needs attention"
        FEED_HELD = "feed_held", "Feed dropped many stays"
        GUEST_NO_EMAIL = "guest_no_email", "Guest has no email address"
        FEED_FAILING = "feed_failing", "Calendar feed failing"
        CODE_NOT_SET = "code_not_set", "Code not set in time"

    site = models.ForeignKey("properties.Site", on_delete=models.CASCADE, related_name="staff_alerts")
    lock = models.ForeignKey(
        "locks.Lock", null=True, blank=True, on_delete=models.CASCADE, related_name="staff_alerts"
    )
    access_code = models.ForeignKey(
        AccessCode, null=True, blank=True, on_delete=models.CASCADE, related_name="staff_alerts"
    )
    kind = models.CharField(max_length=32, choices=Kind.choices)
    message = models.TextField()
    key = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    # Set once the site's staff were emailed; a failure (SMTP, nobody to email) is in email_error.
    emailed_at = models.DateTimeField(null=True, blank=True)
    email_error = models.TextField(blank=True)
    # When its email task was last put on the queue (see CodeEmail.queued_at); once it resolved
    # itself, its resolution's email task.
    email_queued_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # How it ended when it resolved itself (the door came back, the code got set), in words for
    # the email that tells staff so; empty when staff resolved it or it is open.
    resolution = models.TextField(blank=True)
    # When the site's staff were told it resolved itself (only alerts they were emailed about).
    resolution_emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["key"], condition=Q(resolved_at__isnull=True), name="staff_alert_open_key")
        ]
        indexes = [
            models.Index(fields=["site", "created_at"], condition=Q(resolved_at__isnull=True), name="staff_alert_open")
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.key}"


def walking_order(codes: Iterable[AccessCode], unit: "Unit") -> list[AccessCode]:
    """``codes`` door by door in the order a guest walks through the unit's doors (its
    ``UnitDoor.position``), each door's codes first first: how the pages and the guest email
    list a stay's codes, and why the first of them carries the stay's email."""
    positions = {unit_door.lock_id: unit_door.position for unit_door in unit.unit_doors.all()}
    return sorted(codes, key=lambda code: (positions.get(code.lock_id, 0), code.starts_at, code.pk))


class GuestLink(models.Model):
    """A stay's guest page link: signed and unguessable, no login (see ``codes.guestlinks``).

    ``public_id`` is random; the link carries it with a signature, so a tampered link is refused
    before any lookup. Staff revoke a link (it then answers 404) and make a new one. Like a PIN,
    ``public_id`` is never shown in the admin or logged.
    """

    reservation = models.ForeignKey("properties.Reservation", on_delete=models.CASCADE, related_name="guest_links")
    public_id = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_viewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            # One live link per stay: the one the emails carry.
            models.UniqueConstraint(
                fields=["reservation"], condition=Q(revoked_at__isnull=True), name="guest_link_one_live_per_stay"
            ),
        ]

    def __str__(self) -> str:
        state = "revoked" if self.revoked_at else "live"
        return f"Guest link of reservation {self.reservation_id} ({state})"
