"""NAV as data source with consent resource 5252_1, and an insurer as consumer (seed 002)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from consenthub import registry
from consenthub.domain.consent import ConsentResource, ParameterFormat, ResourceParameter
from consenthub.store.database import Database
from tests.conftest import TEST_SECRET_KEY

Result = TypeVar("Result")


def run_async(coroutine: Coroutine[Any, Any, Result]) -> Result:
    """The coroutine on a loop of its own thread: a session's Playwright keeps a loop
    running in the main thread, where ``asyncio.run`` refuses."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


NAV_ORGNR = "889640782"
CONSUMER_ORGNR = "974760673"
CONSUMER_NAME = "Forsikring Vest AS"
RETURN_DOMAIN = "forsikring.example.no"
REDIRECT_URL = "https://forsikring.example.no/samtykke/svar"
# Seed 002's template for DelegationContext (its first two sentences).
NAV_CONTEXT = (
    "For å behandle søknaden din, starte og stoppe utbetaling av uføreytelser, beregne riktig "
    "utbetalingsgrad og utbetale uføreytelser for riktig tidsperiode trenger NAVN_SELSKAP visse "
    "personopplysninger om deg fra NAV. Ved å samtykke, gir du NAV rett til å utlevere disse "
    "personopplysningene direkte og elektronisk til NAVN_SELSKAP."
)
PERIOD = (
    ResourceParameter("fraOgMed", ParameterFormat.DATE, required=True),
    ResourceParameter("tilOgMed", ParameterFormat.DATE, required=True),
)


def add_nav(
    db: Database, *, code: str = "5252_1", one_time: bool = False, max_days: int = 365
) -> tuple[registry.NewCredentials, ConsentResource]:
    with db.write() as conn:
        nav = registry.add_party(
            conn, TEST_SECRET_KEY.encode(), name="NAV", roles=["data_source"], orgnr=NAV_ORGNR
        )
        resource = registry.add_consent_resource(
            conn,
            code=code,
            data_source=nav.party,
            titles={"nb": "Uføreopplysninger", "nn": "Uføreopplysningar", "en": "Disability data"},
            context_template=NAV_CONTEXT,
            parameters=PERIOD,
            max_duration_days=max_days,
            one_time=one_time,
        )
    return nav, resource


def add_consumer(db: Database, *, webhook_url: str | None = None) -> registry.NewCredentials:
    with db.write() as conn:
        return registry.add_party(
            conn,
            TEST_SECRET_KEY.encode(),
            name=CONSUMER_NAME,
            roles=["consent_consumer"],
            orgnr=CONSUMER_ORGNR,
            return_domains=[RETURN_DOMAIN],
            webhook_url=webhook_url,
        )
