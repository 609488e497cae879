"""Twilio SMS and voice: the exact requests the twilio 9 library sends, the TwiML, the PIN
check and the error mapping. Only twilio's async HTTP client boundary is faked."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from pydantic import ValidationError

from alarms.notify.base import NotifyError
from alarms.notify.sms import compose_sms, is_gsm7, segments
from alarms.notify.twilio_sms import TwilioSmsNotifier, TwilioSmsSettings
from alarms.notify.twilio_voice import TwilioVoiceNotifier, TwilioVoiceSettings
from alarms.notify.twiml import (
    MAX_TWIML,
    call_twiml,
    check_key,
    check_pin,
    pin_prompt_twiml,
    say_twiml,
)
from tests.support.notify import (
    ACCOUNT,
    FakeTwilioHttp,
    notification,
    person,
    twilio_error,
)

BASE = "https://coldwatch.example.org"


def sms_notifier(
    script: list[Any] | None = None, **settings: Any
) -> tuple[TwilioSmsNotifier, list[FakeTwilioHttp]]:
    made: list[FakeTwilioHttp] = []

    def factory(timeout: float) -> FakeTwilioHttp:
        made.append(FakeTwilioHttp(timeout, script))
        return made[-1]

    options: dict[str, Any] = {
        "account_sid": ACCOUNT,
        "auth_token": "tok-secret",
        "from_number": "+15005550006",
        "public_base_url": BASE + "/",
    }
    options.update(settings)
    return TwilioSmsNotifier("sms", TwilioSmsSettings(**options), http_client=factory), made


def voice_notifier(
    script: list[Any] | None = None,
) -> tuple[TwilioVoiceNotifier, list[FakeTwilioHttp]]:
    made: list[FakeTwilioHttp] = []

    def factory(timeout: float) -> FakeTwilioHttp:
        made.append(FakeTwilioHttp(timeout, script))
        return made[-1]

    settings = TwilioVoiceSettings(
        account_sid=ACCOUNT,
        auth_token_env="TEST_TWILIO_TOKEN",
        from_number="+15005550006",
        public_base_url=BASE,
        voice="Polly.Vicki",
        language="de-DE",
    )
    return TwilioVoiceNotifier("phone", settings, http_client=factory), made


async def test_sms_request_fields() -> None:
    notifier, made = sms_notifier()
    n, alice = notification(), person()
    result = await notifier.send(n, alice)
    (request,) = made[0].requests
    assert request["method"] == "POST"
    assert request["uri"] == f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
    assert request["auth"] == (ACCOUNT, "tok-secret")
    data = request["data"]
    assert set(data) == {"To", "From", "Body", "StatusCallback"}
    assert data["To"] == "+4915112345678"
    assert data["From"] == "+15005550006"
    assert data["Body"] == compose_sms(n)
    assert is_gsm7(data["Body"]) and segments(data["Body"]) <= 2
    callback = urlsplit(data["StatusCallback"])
    assert f"{callback.scheme}://{callback.netloc}{callback.path}" == BASE + "/twilio/sms/status"
    assert parse_qs(callback.query) == {"alarm": ["A1007"], "person": ["alice"], "key": [n.key]}
    assert result.provider_id == "SM" + f"{1:032x}"
    await notifier.aclose()


async def test_sms_through_a_messaging_service_without_callback() -> None:
    notifier, made = sms_notifier(
        from_number=None, messaging_service_sid="MG" + "ab" * 16, public_base_url=None
    )
    await notifier.send(notification(), person())
    data = made[0].requests[0]["data"]
    assert set(data) == {"To", "MessagingServiceSid", "Body"}
    assert data["MessagingServiceSid"] == "MG" + "ab" * 16


async def test_one_segment_option() -> None:
    notifier, made = sms_notifier(max_segments=1)
    await notifier.send(notification(), person())
    assert segments(made[0].requests[0]["data"]["Body"]) == 1


async def test_sms_without_a_phone_is_not_retryable() -> None:
    notifier, made = sms_notifier()
    with pytest.raises(NotifyError) as info:
        await notifier.send(notification(), person(phone=None))
    assert not info.value.retryable
    assert made == []  # no client was even built


@pytest.mark.parametrize(
    ("step", "retryable", "unknown"),
    [
        (twilio_error(400, 21211, "The 'To' number is not a valid phone number."), False, False),
        (twilio_error(400, 21610, "Attempt to send to unsubscribed recipient"), False, False),
        (twilio_error(401, 20003, "Authenticate"), False, False),
        (twilio_error(400, 21408, "Permission to send an SMS has not been enabled"), False, False),
        (twilio_error(429, 20429, "Too Many Requests"), True, False),
        (twilio_error(500, 20500, "Internal Server Error"), True, False),
        (twilio_error(503, 20503, "Service Unavailable"), True, False),
        (twilio_error(502, 0, "Bad Gateway"), True, False),
        (aiohttp.ServerDisconnectedError(), True, True),
        (
            aiohttp.ClientConnectorError(
                aiohttp.client_reqrep.ConnectionKey(
                    "api.twilio.com", 443, True, True, None, None, None
                ),
                OSError(111, "Connection refused"),
            ),
            True,
            False,
        ),
    ],
)
async def test_error_mapping(step: Any, retryable: bool, unknown: bool) -> None:
    notifier, _ = sms_notifier([step])
    with pytest.raises(NotifyError) as info:
        await notifier.send(notification(), person())
    assert info.value.retryable is retryable
    assert info.value.outcome_unknown is unknown
    assert "tok-secret" not in str(info.value)
    await notifier.aclose()


async def test_error_text_carries_the_twilio_code() -> None:
    notifier, _ = sms_notifier([twilio_error(400, 21211, "The 'To' number is not valid.")])
    with pytest.raises(NotifyError, match=r"HTTP 400, error 21211: The 'To' number is not valid"):
        await notifier.send(notification(), person())


async def test_a_hanging_request_times_out_retryable_and_unknown() -> None:
    notifier, _ = sms_notifier(["hang"], timeout="0.2s")
    with pytest.raises(NotifyError) as info:
        await notifier.send(notification(), person())
    assert info.value.retryable and info.value.outcome_unknown


async def test_token_from_a_file(tmp_path: Any) -> None:
    token = tmp_path / "twilio-token"
    token.write_text("from-file\n")
    notifier, made = sms_notifier(auth_token=None, auth_token_file=str(token))
    await notifier.send(notification(), person())
    assert made[0].requests[0]["auth"] == (ACCOUNT, "from-file")
    await notifier.aclose()
    token.unlink()  # a file gone missing later is a configuration error, not retryable
    with pytest.raises(NotifyError, match="auth_token_file") as info:
        await notifier.send(notification(), person())
    assert not info.value.retryable


def test_settings_are_strict() -> None:
    common = {"account_sid": ACCOUNT, "auth_token": "t", "from_number": "+15005550006"}
    with pytest.raises(ValidationError, match="exactly one of from_number"):
        TwilioSmsSettings(**common, messaging_service_sid="MG" + "0" * 32)
    with pytest.raises(ValidationError, match="set one of auth_token"):
        TwilioSmsSettings(account_sid=ACCOUNT, from_number="+15005550006")
    with pytest.raises(ValidationError, match="set only one of auth_token, auth_token_env"):
        TwilioSmsSettings(**common, auth_token_env="X")
    with pytest.raises(ValidationError, match="Extra inputs"):
        TwilioSmsSettings(**common, unknown=1)
    with pytest.raises(ValidationError, match="needs public_base_url"):
        TwilioVoiceSettings(**common)


# --- voice -------------------------------------------------------------------------------


async def test_call_request_fields_and_twiml(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_TWILIO_TOKEN", "env-token")
    notifier, made = voice_notifier()
    n = notification()
    result = await notifier.send(n, person())
    (request,) = made[0].requests
    assert request["uri"] == f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Calls.json"
    assert request["auth"] == (ACCOUNT, "env-token")
    data = request["data"]
    assert set(data) == {
        "To",
        "From",
        "Twiml",
        "StatusCallback",
        "StatusCallbackEvent",
        "StatusCallbackMethod",
        "Timeout",
    }
    assert (data["To"], data["From"], data["Timeout"]) == ("+4915112345678", "+15005550006", 30)
    assert data["StatusCallbackEvent"] == ["initiated", "ringing", "answered", "completed"]
    status, gather_url = notifier.urls(n, person())
    assert data["StatusCallback"] == status
    assert status.startswith(BASE + "/twilio/voice/status?")
    assert result.provider_id is not None and result.provider_id.startswith("CA")

    root = ET.fromstring(data["Twiml"])
    assert root.tag == "Response"
    gathers = root.findall("Gather")
    assert len(gathers) == 2  # the message is read, then once more
    for gather in gathers:
        assert gather.get("numDigits") == "1"
        assert gather.get("action") == gather_url
        assert gather.get("method") == "POST"
        says = gather.findall("Say")
        assert says[0].get("voice") == "Polly.Vicki" and says[0].get("language") == "de-DE"
        assert "alarm A 1 0 0 7, ULT-03 -80 freezer" in (says[0].text or "")
        said = says[0].text or ""
        assert "minus 61.5 degrees Celsius, above the high limit of minus 65 degrees" in said
        assert "Procedure: Move all material to backup freezer ULT-07 within 30 minutes." in (
            says[0].text or ""
        )
        assert "QA" not in (says[0].text or "")  # only the SOP's first sentence is read
        assert says[1].text == "To acknowledge, press 1."
    query = parse_qs(urlsplit(gather_url).query)
    assert query == {"alarm": ["A1007"], "person": ["alice"], "key": [n.key], "step": ["key"]}
    assert root[-1].tag == "Hangup"
    await notifier.aclose()


def test_twiml_of_an_acknowledgement_only_speaks() -> None:
    n = notification(kind="acknowledged", state="ACKED", acknowledged_by="Bob")
    root = ET.fromstring(call_twiml(n, BASE + "/g"))
    assert root.find("Gather") is None
    assert "was acknowledged by Bob" in (root.findall("Say")[0].text or "")


def test_twiml_stays_under_twilios_limit() -> None:
    n = notification(sop="Very long procedure " * 190 + ". Second.", equipment="E" * 200)
    assert len(call_twiml(n, BASE + "/twilio/voice/gather?x=1")) <= MAX_TWIML


def test_twiml_escapes_text() -> None:
    n = notification(equipment="Freezer <A&B>")
    xml = call_twiml(n, BASE + "/g?a=1&b=2")
    root = ET.fromstring(xml)
    assert "Freezer <A&B>" in (root.find("Gather/Say").text or "")  # type: ignore[union-attr]
    assert root.find("Gather").get("action") == BASE + "/g?a=1&b=2"  # type: ignore[union-attr]


def test_pin_prompt_and_last_words() -> None:
    root = ET.fromstring(pin_prompt_twiml(BASE + "/twilio/voice/gather?step=pin"))
    gather = root.find("Gather")
    assert gather is not None and gather.get("finishOnKey") == "#"
    assert gather.get("numDigits") is None  # the PIN's length is not given away
    assert ET.fromstring(say_twiml("Acknowledged.")).find("Say").text == "Acknowledged."  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("digits", "pin", "ok"),
    [
        ("4711", "4711", True),
        ("4711#", "4711", True),
        ("4712", "4711", False),
        ("47111", "4711", False),
        ("", "4711", False),
        (None, "4711", False),
        ("4711", None, False),
        ("4711", "", False),
        ("٤٧١١", "4711", False),  # Arabic-Indic digits are digits, but not keypad digits
        ("47*1", "4711", False),
    ],
)
def test_check_pin(digits: str | None, pin: str | None, ok: bool) -> None:
    assert check_pin(digits, pin) is ok


def test_check_key() -> None:
    assert check_key("1") and check_key("1#")
    assert not check_key("2") and not check_key("") and not check_key(None)


async def test_the_default_http_client_is_closed() -> None:
    settings = TwilioSmsSettings(account_sid=ACCOUNT, auth_token="t", from_number="+15005550006")
    notifier = TwilioSmsNotifier("sms", settings)
    client = notifier._twilio.get()  # what a send builds: twilio's aiohttp-based client
    http = client.http_client
    assert http.is_async and not http.session.closed
    await notifier.aclose()
    assert http.session.closed
    await notifier.aclose()  # idempotent
