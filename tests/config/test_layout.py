"""The layout the README describes, held to: the apps import one way, properties ← locks ←
codes ← feeds ← api (front sits on all but the API), and the simulator shares no code with
the app it tests."""

import ast
from pathlib import Path

import pytest

from codes.rate_limit import CLAIM_LEASE
from codes.tasks import access_code_create_task

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {"properties", "locks", "codes", "feeds", "api", "guests", "front", "simulator", "config"}
# What each package may import of the others (config, the project, holds settings and helpers
# every app uses; its root URLconf and Celery app sit above them all and are not checked).
ALLOWED = {
    "properties": {"config"},
    "locks": {"properties", "config"},
    "codes": {"locks", "properties", "config"},
    # Stays arriving on their own: from calendar feeds, and from PMSs through the REST API.
    "feeds": {"codes", "locks", "properties", "config"},
    "api": {"feeds", "codes", "locks", "properties", "config"},
    # The guest's own page, public behind a signed link.
    "guests": {"codes", "locks", "properties", "config"},
    # The demo's commands (demo_data, seam_simulator) start the simulator beside the app.
    "front": {"feeds", "codes", "locks", "properties", "config", "simulator"},
    "simulator": set(),
}
TOP_OF_THE_PROJECT = {"config/urls.py", "config/celery.py", "config/__init__.py"}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names & PACKAGES


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_each_package_imports_only_the_layers_below_it(package):
    wrong = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if "/migrations/" in relative:
            continue
        others = imported_packages(path) - {package} - ALLOWED[package]
        if others:
            wrong[relative] = sorted(others)
    assert wrong == {}, f"imports against the layering: {wrong}"


def test_config_itself_imports_no_app_but_at_the_top():
    for path in sorted((ROOT / "config").rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if relative not in TOP_OF_THE_PROJECT:
            assert imported_packages(path) - {"config"} == set(), relative


def test_a_create_task_is_killed_inside_its_claims_lease():
    # The exactly-once argument: a create call never outlives the claim it was made under.
    assert access_code_create_task.time_limit < CLAIM_LEASE.total_seconds()
