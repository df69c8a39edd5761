"""sync_locks against Seam's own fake server over HTTP."""

import pytest
from django.core.management import call_command

from locks.models import Lock
from locks.seam import SeamClient
from locks.services import locks_sync
from properties.models import Site

pytestmark = [pytest.mark.django_db, pytest.mark.services]


def test_sync_imports_the_oracode_doors_of_the_fake_server(fake_seam):
    client = SeamClient(api_key=fake_seam.api_key, endpoint=fake_seam.url, sleep=lambda _: None)

    report = locks_sync(client=client)

    assert sorted(lock.seam_device_id for lock in report.created) == sorted(fake_seam.oracode_device_ids)
    assert set(Lock.objects.values_list("seam_device_id", flat=True)) == set(fake_seam.oracode_device_ids)
    assert set(Site.objects.values_list("dormakaba_site_name", flat=True)) == {
        "Ocean Beach Vacations",
        "Bondi Beach Stays",
    }
    sydney = Lock.objects.get(name="Unit 4")
    assert sydney.timezone == "Australia/Sydney"
    assert sydney.site.timezone == "Australia/Sydney"
    assert sydney.time_slots
    assert sydney.last_synced_at is not None


def test_the_command_syncs_from_the_fake_server_twice_without_duplicates(fake_seam, settings, capsys):
    settings.SEAM_API_KEY = fake_seam.api_key
    settings.SEAM_ENDPOINT = fake_seam.url

    call_command("sync_locks")
    call_command("sync_locks")

    assert Lock.objects.count() == len(fake_seam.oracode_device_ids)
    assert "0 door(s) imported" in capsys.readouterr().out
