"""The languages a person reads the hub in, and their Babel catalogs.

One set of catalogs (``translations/<lang>/LC_MESSAGES/messages.po``, made by
``make translations``) serves the portal's pages (``web/pages.py``) and the mail the
worker sends (``mail/``). It lives below both, so that mail, which knows nothing of
HTTP, reads the same translations as the pages. The catalogs are compiled in memory
on first use.
"""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

# Norway's hub serves bokmål and nynorsk, Finland's hub Finnish and Swedish.
LANGUAGES = ("nb", "nn", "en", "fi", "sv")
LANGUAGE_NAMES = {
    "nb": "Norsk bokmål",
    "nn": "Norsk nynorsk",
    "en": "English",
    "fi": "Suomi",
    "sv": "Svenska",
}
TRANSLATIONS = Path(__file__).parent / "translations"


@cache
def translations(language: str) -> Translations:
    po_path = TRANSLATIONS / language / "LC_MESSAGES" / "messages.po"
    if not po_path.exists():
        return Translations()
    with po_path.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer)


@cache
def babel_locale(language: str) -> str:
    """The locale whose date formats ``language`` uses: its own, or bokmål's for a
    nynorsk that this Babel's locale data lacks."""
    return "nb" if language == "nn" and not _has_locale("nn") else language


def _has_locale(code: str) -> bool:
    try:
        Locale.parse(code)
    except (ValueError, UnknownLocaleError):
        return False
    return True
