"""The OpenAPI schema describes every call without a warning, and is served to signed-in callers."""

import json

import pytest
from django.core.management import call_command
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

OPERATIONS = {
    ("/api/v1/units/", "get"),
    ("/api/v1/units/{id}/windows/", "get"),
    ("/api/v1/reservations/", "get"),
    ("/api/v1/reservations/", "post"),
    ("/api/v1/reservations/{id}/", "get"),
    ("/api/v1/reservations/{id}/change-dates/", "post"),
    ("/api/v1/reservations/{id}/cancel/", "post"),
    ("/api/v1/codes/{id}/reveal/", "post"),
    ("/api/v1/feeds/", "get"),
    ("/api/v1/feeds/", "post"),
    ("/api/v1/feeds/{id}/sync/", "post"),
}


def test_the_schema_generates_and_validates_without_a_warning(tmp_path):
    # --fail-on-warn: any call drf-spectacular cannot describe exactly fails the suite.
    call_command("spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", "--file", tmp_path / "s")

    schema = json.loads((tmp_path / "s").read_text())
    operations = {(path, method) for path, item in schema["paths"].items() for method in item}
    assert operations >= OPERATIONS
    assert set(schema["components"]["securitySchemes"]) == {"tokenAuth", "cookieAuth"}


def test_no_schema_component_but_the_reveal_has_a_pin():
    schema = SchemaGenerator().get_schema(request=None, public=True)

    components = schema["components"]["schemas"]
    assert [name for name, c in components.items() if "pin" in c.get("properties", {})] == ["Reveal"]
    assert [name for name, c in components.items() if "code" in c.get("properties", {})] == []


def test_the_schema_is_served_to_a_caller_with_a_token_only(api):
    assert APIClient().get("/api/schema/").status_code == 401

    response = api.get("/api/schema/", {"format": "json"})

    assert response.status_code == 200
    assert "/api/v1/reservations/" in response.json()["paths"]
    assert api.get("/api/schema/").content.startswith(b"openapi: 3.0.3")


def test_the_docs_send_a_stranger_to_log_in(client):
    response = client.get("/api/docs/")

    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/api/docs/"
