"""Defect 9: national identity numbers are masked in logs whatever surrounds them;
GSRNs, GLNs and correlation ids are not."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import orjson
import pytest
from fastapi.testclient import TestClient

from consenthub.app import create_app
from consenthub.config import Settings
from consenthub.observability import JsonFormatter, mask_personal_ids
from consenthub.store.database import Database
from tests.factories import fnr, gln, gsrn

FNR = "15838512329"  # a synthetic fødselsnummer (month + 80)
D_NUMBER = "41019012345"  # shape of a D-number: first digit + 4
HETU = "131052-308T"
HETU_DIGIT_CHECK = "010594Y9021"  # new century sign (1900s), check character a digit
HETU_2000S = "020304A123B"
HETU_1800S = "010180+9876"

PERSONAL_IDS = [FNR, D_NUMBER, fnr(24, 12, 88), HETU, HETU_DIGIT_CHECK, HETU_2000S, HETU_1800S]

SHAPES = [
    "{id}",
    "{id}abc",
    "abc{id}",
    "x{id}Z",
    "_{id}_",
    "?fnr={id}abc",
    "/api/v1/metering-points/{id}Z",
    "/api/v1/metering-points/{id}/values",
    "https://app.example.no/callback?ssn={id}&next=1",
    "https://app.example.no/callback?ssn={id}Z&next=1",
    '{{"pid": "{id}"}}',
    '{{"pid":"{id}x","other":1}}',
    "ID:{id}.",
    "fnr {id}, then more",
    "{id}\n",
    "a{id}b{id}c",
]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("personal_id", PERSONAL_IDS)
def test_national_ids_are_masked_in_every_shape(personal_id: str, shape: str) -> None:
    text = shape.format(id=personal_id)
    masked = mask_personal_ids(text)
    assert personal_id not in masked
    assert personal_id[6:] not in masked.replace(personal_id[:6], "")
    assert masked == text.replace(personal_id, personal_id[:6] + "*****")


NOT_PERSONAL = [
    gsrn(1),  # 18 digits
    "643007574000000019",  # a Finnish GSRN
    gln(7),  # 13 digits
    "7080005051234",
    "123456789012",  # 12 digits
    "1234567890",  # 10 digits
    "3f2b8c1e-1234-4abc-8def-a15838512329",  # a correlation id; its last group holds 11 digits
    "2025-01-06T00:00:00+01:00",
    "20250106T000000Z",
]


@pytest.mark.parametrize(
    "shape",
    [
        "{id}",
        "{id}Z",
        "abc{id}",
        "/api/v1/metering-points/{id}/values",
        "/api/v1/metering-points/{id}Z",
        "?after={id}&limit=10",
        '{{"meteringPointId": "{id}"}}',
    ],
)
@pytest.mark.parametrize("value", NOT_PERSONAL)
def test_gsrns_glns_and_correlation_ids_are_kept(value: str, shape: str) -> None:
    text = shape.format(id=value)
    assert mask_personal_ids(text) == text


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """What the hub's JSON log handler writes, for the ``consenthub`` loggers."""
    output = io.StringIO()
    handler = logging.StreamHandler(output)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("consenthub")
    logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.INFO)
    yield output
    logger.removeHandler(handler)
    logger.setLevel(previous)


def test_a_national_id_with_a_letter_suffix_in_a_path_is_masked_in_the_log_line(
    settings: Settings, db: Database, log_output: io.StringIO
) -> None:
    with TestClient(create_app(settings, db)) as client:
        response = client.get(f"/api/v1/metering-points/{FNR}Z")
        kept = client.get(f"/api/v1/metering-points/{gsrn(1)}Z")
    assert response.status_code == kept.status_code == 401
    lines = [orjson.loads(line) for line in log_output.getvalue().splitlines()]
    paths = [line["path"] for line in lines if "path" in line]
    assert f"/api/v1/metering-points/{FNR[:6]}*****Z" in paths
    assert f"/api/v1/metering-points/{gsrn(1)}Z" in paths
    assert FNR not in log_output.getvalue()
    korrelasjons_id = response.json()["korrelasjonsId"]
    assert any(line.get("correlation_id") == korrelasjons_id for line in lines)
