"""JSON logs carrying the request's correlation id, and Prometheus metrics.

National identity numbers must never reach a log. The code does not log
them; as a second line of defence every record passes a filter that masks
anything shaped like a fødselsnummer or D-number (a run of exactly 11 digits,
whatever letters surround it) or a Finnish HETU (``DDMMYY``, century sign,
``NNN``, check character), keeping the birth date: ``010190*****``. Longer
digit runs (18-digit GSRNs, 13-digit GLNs) are not personal data and stay, and
so do UUIDs (correlation ids), which operators search the logs for.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import logging
import re
import sys
from typing import Any

import orjson
from prometheus_client import Counter, Histogram

correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "correlation_id", default=None
)

_HEX = "[0-9A-Fa-f]"
_UUID = f"{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}"
# 11 digits that are not part of a longer run, or a HETU whatever follows it. Lower-case
# signs and check characters too: masking more is safe.
_FNR_OR_HETU = r"(?<!\d)(\d{6})(?:\d{5}(?!\d)|[-+A-FU-Ya-fu-y]\d{3}[0-9A-Ya-y])"
# A UUID is matched first and kept whole: an 11-digit run may lie in its last group.
_NATIONAL_ID = re.compile(f"{_UUID}|{_FNR_OR_HETU}")

_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}


def _masked(match: re.Match[str]) -> str:
    birth_date = match.group(1)
    return match.group(0) if birth_date is None else f"{birth_date}*****"


def mask_personal_ids(text: str) -> str:
    return _NATIONAL_ID.sub(_masked, text)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        cid = getattr(record, "correlation_id", None) or correlation_id.get()
        if cid:
            entry["correlation_id"] = cid
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and key != "correlation_id":
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        line = orjson.dumps(entry, default=str).decode()
        return mask_personal_ids(line)


def configure_logging(level: str = "INFO") -> None:
    """Every log line (ours, uvicorn's, alembic's) as one JSON object on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.captureWarnings(True)  # library warnings become JSON log lines too
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "alembic"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True


HTTP_REQUESTS = Counter(
    "consenthub_http_requests_total", "HTTP requests", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "consenthub_http_request_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
TOKENS_ISSUED = Counter("consenthub_tokens_issued_total", "Access tokens issued")
TOKEN_FAILURES = Counter("consenthub_token_failures_total", "Failed token requests", ["error"])
DATA_READS = Counter("consenthub_data_reads_total", "Data API reads", ["what"])
