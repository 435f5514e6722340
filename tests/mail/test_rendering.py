"""Mail as its recipient reads it: each template in each language, from the portal's
catalogs; the seller, the metering points, the period, the deadline and the link; never
a national identity number; HTML escaped, plain text not; the message that goes out."""

from __future__ import annotations

import datetime as dt
from email import policy
from email.parser import BytesParser
from typing import Any

import pytest
from babel.messages.pofile import read_po
from stdnum import ean

from consenthub.config import Settings
from consenthub.i18n import LANGUAGES, TRANSLATIONS
from consenthub.mail import SUBJECTS, Mail, MailError, compose, message_id_header, render
from tests.factories import fnr

TEMPLATES = sorted(SUBJECTS)
HETU = "131052-308T"
LINK = "https://hub.example.fi/minside/requests/42"
# The sentence that says what the mail is, by template.
OPENING = {
    "authorization_request_notice": (
        "%(party)s asks for access to your electricity data in %(hub)s. Nothing is shared "
        "until you give access, and you may also reject the request."
    ),
    "authorization_request_reminder": (
        "A reminder: %(party)s is still waiting for your answer to its request for access "
        "to your electricity data."
    ),
}
# Dates in each language's own long format (valid_from 2026-06-01), and the deadline
# (2026-06-15T09:30Z) in the hub's time zone, Europe/Helsinki: 12:30.
VALID_FROM = {
    "nb": "1. juni 2026",
    "nn": "1. juni 2026",
    "en": "June 1, 2026",
    "fi": "1. kesäkuuta 2026",
    "sv": "1 juni 2026",
}
DEADLINE = {
    "nb": "15. juni 2026, 12:30",
    "nn": "15. juni 2026 kl. 12:30",
    "en": "June 15, 2026, 12:30\u202fPM",
    "fi": "15. kesäkuuta 2026 12.30",
    "sv": "15 juni 2026 12:30",
}


def gsrn_fi(seed: int) -> str:
    body = f"643{seed:014d}"
    return body + ean.calc_check_digit(body)


POINTS = [gsrn_fi(17), gsrn_fi(24)]


def translated(language: str, msgid: str) -> str:
    with (TRANSLATIONS / language / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        message = read_po(handle, locale=language).get(msgid)
    return str(message.string) if message is not None and message.string else msgid


@pytest.fixture
def finnish_hub(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"hub_timezone": "Europe/Helsinki", "hub_name": "Datahub", "default_language": "fi"}
    )


def context(**changes: Any) -> dict[str, Any]:
    return {
        "seller_name": "Energia Oy",
        "customer_name": "Matti Meikäläinen",
        "accounting_points": POINTS,
        "valid_from": "2026-06-01",
        "valid_to": None,
        "reason": "Uusi sähkösopimus",
        "description": "Kulutustiedot tarjousta varten",
        "link": LINK,
        "expires_at": "2026-06-15T09:30:00Z",
    } | changes


def mail(template: str, language: str, **changes: Any) -> Mail:
    return Mail(template, "matti@example.fi", "Matti Meikäläinen", language, context(**changes))


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("template", TEMPLATES)
def test_each_mail_in_each_language(finnish_hub: Settings, template: str, language: str) -> None:
    rendered = render(mail(template, language), finnish_hub)
    assert rendered.language == language
    assert rendered.subject == translated(language, SUBJECTS[template]) % {"party": "Energia Oy"}
    opening = translated(language, OPENING[template]) % {"party": "Energia Oy", "hub": "Datahub"}
    greeting = translated(language, "Hello %(name)s,") % {"name": "Matti Meikäläinen"}
    for body in (rendered.text, rendered.html):
        assert opening in body
        assert greeting in body
        assert "Energia Oy" in body
        assert all(point in body for point in POINTS)
        assert LINK in body
        assert VALID_FROM[language] in body
        assert DEADLINE[language] in body
        # No other language's words: the opening sentence differs in every language.
        for other in LANGUAGES:
            if other != language:
                assert (
                    translated(other, OPENING[template])
                    % {
                        "party": "Energia Oy",
                        "hub": "Datahub",
                    }
                    not in body
                )
    assert f'<html lang="{language}">' in rendered.html
    assert f'href="{LINK}"' in rendered.html


@pytest.mark.parametrize("template", TEMPLATES)
def test_no_national_identity_number_in_a_mail(finnish_hub: Settings, template: str) -> None:
    """Only the seller's free text could carry one (the notice shows it, the reminder
    not); every part is masked like the logs."""
    norwegian = fnr(15, 8, 85)
    rendered = render(
        mail(
            template,
            "fi",
            reason=f"Asiakas {HETU}",
            description=f"henkilötunnus {HETU}, fødselsnummer {norwegian}",
            customer_name=f"Matti {HETU}",
        ),
        finnish_hub,
    )
    for part in (rendered.subject, rendered.text, rendered.html):
        assert HETU not in part
        assert norwegian not in part
    if template == "authorization_request_notice":
        assert HETU[:6] + "*****" in rendered.text
    # Metering point ids (18 digits) are not personal data and stay.
    assert all(point in rendered.text for point in POINTS)


def test_the_notice_says_everything_that_was_given(finnish_hub: Settings) -> None:
    rendered = render(
        mail("authorization_request_notice", "en", valid_to="2026-08-31"), finnish_hub
    )
    for body in (rendered.text, rendered.html):
        assert "from June 1, 2026 until August 31, 2026" in body
        assert "Matti Meikäläinen" in body
        assert "Uusi sähkösopimus" in body
        assert "Kulutustiedot tarjousta varten" in body
        assert f"Answer by {DEADLINE['en']}" in body


def test_what_was_not_given_is_not_shown(finnish_hub: Settings) -> None:
    rendered = render(
        Mail(
            "authorization_request_notice",
            "matti@example.fi",
            None,
            "en",
            context(customer_name=None, reason=None, description=None, expires_at=None),
        ),
        finnish_hub,
    )
    assert rendered.text.startswith("Hello,\n")
    assert "from June 1, 2026, with no end date" in rendered.text
    for absent in ("Customer", "Reason", "Description", "Answer by", "None"):
        assert absent not in rendered.text
        assert absent not in rendered.html


def test_the_reminder_is_shorter(finnish_hub: Settings) -> None:
    notice = render(mail("authorization_request_notice", "sv"), finnish_hub)
    reminder = render(mail("authorization_request_reminder", "sv"), finnish_hub)
    assert len(reminder.text) < len(notice.text)
    assert reminder.subject == "Påminnelse: Energia Oy väntar på ditt svar"
    assert "Uusi sähkösopimus" not in reminder.text


def test_html_is_escaped_and_text_is_not(finnish_hub: Settings) -> None:
    rendered = render(
        mail(
            "authorization_request_notice",
            "en",
            seller_name="Watt & <Volt> Oy",
            description='<a href="https://evil.example">click</a>',
        ),
        finnish_hub,
    )
    assert "Watt &amp; &lt;Volt&gt; Oy" in rendered.html
    assert "<Volt>" not in rendered.html
    assert "&lt;a href=&#34;https://evil.example&#34;&gt;" in rendered.html
    assert "Watt & <Volt> Oy" in rendered.text
    assert rendered.subject == "Watt & <Volt> Oy asks for access to your electricity data"


def test_a_language_the_hub_does_not_speak_falls_back_to_its_default(
    finnish_hub: Settings,
) -> None:
    rendered = render(mail("authorization_request_notice", "de"), finnish_hub)
    assert rendered.language == "fi"
    assert rendered.subject == "Energia Oy pyytää käyttöoikeutta sähkötietoihisi"


def test_a_subject_is_one_line(finnish_hub: Settings) -> None:
    rendered = render(
        mail("authorization_request_notice", "en", seller_name="Energia\r\nBcc: x@y.fi Oy"),
        finnish_hub,
    )
    assert "\n" not in rendered.subject
    assert "\r" not in rendered.subject


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"link": None}, "link"),
        ({"seller_name": None}, "seller_name"),
        ({"accounting_points": "643000000000000017"}, "accounting_points"),
        ({"valid_from": "1.6.2026"}, "valid_from"),
        ({"expires_at": "tomorrow"}, "expires_at"),
        ({"reason": 42}, "reason"),
    ],
)
def test_a_context_it_cannot_show_is_a_mail_error(
    finnish_hub: Settings, changes: dict[str, Any], problem: str
) -> None:
    with pytest.raises(MailError, match=problem):
        render(mail("authorization_request_notice", "en", **changes), finnish_hub)


def test_an_unknown_template_is_a_mail_error(finnish_hub: Settings) -> None:
    with pytest.raises(MailError, match="no such mail template"):
        render(mail("grant_summary", "en"), finnish_hub)


def test_the_message_that_goes_out(finnish_hub: Settings) -> None:
    queued = mail("authorization_request_notice", "fi")
    rendered = render(queued, finnish_hub)
    message = compose(
        queued,
        rendered,
        message_id="msg_0123456789abcdef0123456789abcdef",
        sender=finnish_hub.mail_from,
        date=dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.UTC),
    )
    parsed = BytesParser(policy=policy.default).parsebytes(message.as_bytes())
    assert parsed["From"] == "consenthub <no-reply@consenthub.invalid>"
    assert parsed["To"] == "Matti Meikäläinen <matti@example.fi>"
    assert parsed["Subject"] == rendered.subject
    assert parsed["Date"] == "Mon, 01 Jun 2026 09:00:00 +0000"
    assert parsed["Message-ID"] == "<msg_0123456789abcdef0123456789abcdef@consenthub>"
    assert parsed["Message-ID"] == message_id_header("msg_0123456789abcdef0123456789abcdef")
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert parsed["Content-Language"] == "fi"
    assert parsed.get_content_type() == "multipart/alternative"
    text = parsed.get_body(preferencelist=("plain",))
    html = parsed.get_body(preferencelist=("html",))
    assert text is not None
    assert html is not None
    assert text.get_content() == rendered.text
    assert html.get_content() == rendered.html


@pytest.mark.parametrize(
    "address", ["not an address", "matti@example.fi\r\nBcc: x@y.fi", "mätti@example.fi"]
)
def test_an_address_no_message_can_carry_is_a_mail_error(
    finnish_hub: Settings, address: str
) -> None:
    queued = Mail("authorization_request_notice", address, "Matti", "fi", context())
    with pytest.raises(MailError, match="not a mail address"):
        compose(
            queued,
            render(queued, finnish_hub),
            message_id="msg_1",
            sender=finnish_hub.mail_from,
            date=dt.datetime.now(dt.UTC),
        )


def test_a_name_with_line_breaks_is_one_line(finnish_hub: Settings) -> None:
    queued = Mail(
        "authorization_request_notice", "matti@example.fi", "Matti\r\n M.", "fi", context()
    )
    message = compose(
        queued,
        render(queued, finnish_hub),
        message_id="msg_1",
        sender=finnish_hub.mail_from,
        date=dt.datetime.now(dt.UTC),
    )
    assert message["To"].addresses[0].display_name == "Matti M."
    assert "\n" not in str(message["To"])
