"""Defect 12 and issue 15: the OpenAPI document is true (schemathesis holds the answers
to it: sections/schemathesis_api.py), and the RFC 8414 metadata advertises only what
the document shows."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx

from consenthub.domain.identifiers import validate_gsrn
from tests.harness import LiveServer


def document(server: LiveServer) -> dict[str, Any]:
    return dict(httpx.get(f"{server.url}/openapi.json").json())


def operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, methods in doc["paths"].items():
        for method, operation in methods.items():
            yield method, path, operation


def test_json_answers_have_object_schemas_and_no_phantom_422(live_server: LiveServer) -> None:
    doc = document(live_server)
    for method, path, operation in operations(doc):
        for status, answer in operation["responses"].items():
            schema = answer.get("content", {}).get("application/json", {}).get("schema")
            assert schema != {"type": "string"}, (method, path, status)
            if status == "422":  # only an operation's own (DH-831's rejection)
                assert path == "/api/v1/authorization-requests", (method, path)
        if path.startswith("/api/v1/"):
            assert operation.get("security") == [{"bearer": []}], (method, path)
            assert {"400", "401", "403"} <= operation["responses"].keys(), (method, path)
    one_request = doc["paths"]["/api/v1/third-party-access/requests/{request_id}"]["get"]
    assert "422" not in one_request["responses"]
    assert one_request["responses"]["400"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }


def test_the_token_service_documents_its_bodies_and_answers(live_server: LiveServer) -> None:
    doc = document(live_server)
    for path in ("/sts/Token", "/sts/revoke", "/sts/introspect"):
        operation = doc["paths"][path]["post"]
        content = operation["requestBody"]["content"]
        assert {"application/x-www-form-urlencoded", "application/json"} <= content.keys()
        assert {"400", "401", "413", "415", "429"} <= operation["responses"].keys()
    token = doc["paths"]["/sts/Token"]["post"]["responses"]["200"]["content"]
    assert "access_token" in token["application/json"]["schema"]["properties"]


def test_every_gsrn_example_passes_its_check_digit(live_server: LiveServer) -> None:
    text = json.dumps(document(live_server))
    examples = re.findall(r'"(\d{18})"', text)
    assert examples
    for example in examples:
        validate_gsrn(example)


def test_the_public_link_pages_are_documented(live_server: LiveServer) -> None:
    doc = document(live_server)
    authorize = doc["paths"]["/third-party-access/authorize"]["get"]
    assert [p["name"] for p in authorize["parameters"] if p["required"]] == [
        "client_id",
        "request_id",
        "scope",
    ]
    assert "/consent/request" in doc["paths"]


def test_metadata_names_only_documented_endpoints_and_scopes(live_server: LiveServer) -> None:
    doc = document(live_server)
    metadata = httpx.get(f"{live_server.url}/.well-known/oauth-authorization-server").json()
    for name, value in metadata.items():
        if name.endswith("_endpoint") or name == "jwks_uri":
            assert value.removeprefix(live_server.url) in doc["paths"], name
    text = json.dumps(doc)
    for scope in metadata["scopes_supported"]:
        assert f"`{scope}`" in text, scope
