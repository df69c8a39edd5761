import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from properties.models import Reservation, Site
from properties.selectors import sites_for_user
from tests.fixtures.simulator import SIMULATOR_API_KEY

pytestmark = pytest.mark.django_db


def test_demo_data_loads_doors_users_and_stays_from_the_simulator(seam_simulator, settings, capsys):
    settings.DEBUG = True
    settings.SEAM_API_KEY = SIMULATOR_API_KEY
    settings.SEAM_ENDPOINT = seam_simulator.url

    call_command("demo_data", "--url", "http://127.0.0.1:8000/")
    printed = capsys.readouterr().out
    call_command("demo_data")

    users = get_user_model().objects
    assert users.get(username="admin").is_superuser
    harbour = users.get(username="harbour")
    assert [site.name for site in sites_for_user(user=harbour)] == ["Harbour View Apartments"]
    assert "Harbour View Apartments" not in [s.name for s in sites_for_user(user=users.get(username="demo"))]
    assert Site.objects.count() == 5
    assert Reservation.objects.count() == 15
    assert users.get(username="demo").check_password("oracode-demo")
    assert "ready at http://127.0.0.1:8000/" in printed
    assert "demo / oracode-demo" in printed


def test_demo_data_refuses_to_run_without_debug(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="DJANGO_DEBUG=1"):
        call_command("demo_data")
