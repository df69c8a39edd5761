"""The sweep reads the codes in flight through its partial index, never the whole table: its
cost follows the codes due, not the history of set codes (the bench's ``scale.sweeper``)."""

from datetime import UTC, datetime

import pytest
from django.db import connection

from codes.sweeping import access_codes_due_rows
from tests.conftest import skip_or_fail

pytestmark = pytest.mark.django_db


def test_every_branch_of_the_sweep_is_served_by_its_partial_index():
    if connection.vendor != "postgresql":
        skip_or_fail("the sweep's plan is PostgreSQL's (set DATABASE_URL)")
    with connection.cursor() as cursor:
        # An empty table is cheapest to read whole: forbid that, so the plan shows whether the
        # index can serve every branch of the OR (a branch it cannot serve forces a scan).
        cursor.execute("SET LOCAL enable_seqscan = off")
    plan = access_codes_due_rows(now=datetime(2031, 6, 1, 12, tzinfo=UTC))[:2000].explain()
    assert "access_code_sweep" in plan
    assert "Seq Scan" not in plan
