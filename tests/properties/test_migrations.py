"""Migrations that decide something for data already there."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("properties", "0006_reservations_arrive_on_their_own")]
AFTER = [("properties", "0007_guest_email_policy")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def test_sites_that_existed_keep_staff_sending_and_new_ones_send_on_their_own():
    old_apps = migrate(BEFORE)
    old_apps.get_model("properties", "Site").objects.create(name="Existing", timezone="Europe/Lisbon")

    new_apps = migrate(AFTER)
    Site = new_apps.get_model("properties", "Site")

    try:
        assert Site.objects.get(name="Existing").guest_email_policy == "staff", "no guest emailed out of the blue"
        assert Site.objects.create(name="New", timezone="Europe/Lisbon").guest_email_policy == "before_arrival"
    finally:
        migrate(executor_leaf())


def executor_leaf():
    return MigrationExecutor(connection).loader.graph.leaf_nodes()
