from django.db import models
from django.db.models import F, Q


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
    max_time_rounding = models.CharField(max_length=2, choices=Rounding.choices, default=Rounding.HOURLY)

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    seam_access_code_id = models.CharField(max_length=64, blank=True)
    seam_status = models.CharField(max_length=32, blank=True)
    code = models.CharField(max_length=32, blank=True, help_text="The PIN, once Seam knows it.")
    errors = models.JSONField(default=list, blank=True)
    warnings = models.JSONField(default=list, blank=True)
    last_error_type = models.CharField(max_length=100, blank=True)
    last_error_message = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    next_check_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["starts_at"]
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="access_code_ends_after_start"),
            models.UniqueConstraint(
                fields=["seam_access_code_id"],
                condition=~Q(seam_access_code_id=""),
                name="access_code_unique_seam_id",
            ),
            # One live code per reservation; a failed one may be replaced.
            models.UniqueConstraint(
                fields=["reservation"],
                condition=~Q(status="failed"),
                name="access_code_one_live_per_reservation",
            ),
        ]
        indexes = [
            models.Index(fields=["next_check_at"], condition=Q(next_check_at__isnull=False), name="access_code_due"),
        ]

    def __str__(self) -> str:
        return self.name
