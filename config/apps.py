from pathlib import Path

from django.apps import AppConfig
from django.conf import settings


class ProjectConfig(AppConfig):
    """The project itself: makes the local folders the embedded defaults write to when Django
    starts (never when settings are merely read, by a tool or a test)."""

    name = "config"
    verbose_name = "Project"

    def ready(self) -> None:
        folders = [Path(settings.VAR_DIR), Path(settings.STATIC_ROOT)]
        options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
        # Kombu's filesystem broker writes into these folders but does not make them.
        folders += [Path(str(options[key])) for key in ("data_folder_in", "processed_folder") if key in options]
        for folder in folders:
            folder.mkdir(parents=True, exist_ok=True)
