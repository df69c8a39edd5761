import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PRINT_SETTINGS = """
import django
django.setup()
from django.conf import settings
print(settings.DATABASES["default"]["ENGINE"])
print(settings.CELERY_BROKER_URL)
print(settings.EMAIL_BACKEND)
print(settings.SEAM_ENDPOINT, settings.SEAM_USES_SIMULATOR)
"""


def settings_with(env: dict[str, str]) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", PRINT_SETTINGS],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.splitlines()


def test_nothing_set_means_sqlite_filesystem_broker_file_email_and_the_simulator(tmp_path):
    engine, broker, email, seam = settings_with({"DJANGO_DEBUG": "1", "VAR_DIR": str(tmp_path)})

    assert engine == "django.db.backends.sqlite3"
    assert broker == "filesystem://"
    assert email == "django.core.mail.backends.filebased.EmailBackend"
    assert seam == "http://127.0.0.1:8765 True"


def test_service_variables_switch_to_postgres_redis_and_real_seam(tmp_path):
    engine, broker, _, seam = settings_with(
        {
            "DJANGO_DEBUG": "1",
            "VAR_DIR": str(tmp_path),
            "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/test",
            "REDIS_URL": "redis://127.0.0.1:6379/0",
            "SEAM_API_KEY": "seam_test_key",
        }
    )

    assert engine == "django.db.backends.postgresql"
    assert broker == "redis://127.0.0.1:6379/0"
    assert seam == "https://connect.getseam.com False"


def test_reading_the_settings_makes_no_folder_and_starting_django_makes_them(tmp_path):
    var = tmp_path / "var"
    env = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "config.settings", "DJANGO_DEBUG": "1"}
    read_only = "from django.conf import settings; print(settings.DATABASES['default']['NAME'])"
    subprocess.run(
        [sys.executable, "-c", read_only], cwd=ROOT, env={**env, "VAR_DIR": str(var)}, check=True, timeout=60
    )
    assert not var.exists(), "importing the settings made folders"

    subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env={**env, "VAR_DIR": str(var)},
        check=True,
        timeout=60,
    )
    assert (var / "celery" / "queue").is_dir()
    assert (var / "celery" / "processed").is_dir()
    assert (var / "staticfiles").is_dir()
