"""Voice calls as TwiML: what the call says, and how a person acknowledges on the keypad.

The call reads the alarm and the SOP line, then asks for a key press (``<Gather numDigits=1>``,
key 1 acknowledges, as Grafana OnCall does); Twilio posts the key to the gather URL, whose
handler (the inbound webhook, a later piece) answers with :func:`pin_prompt_twiml` and then
checks the PIN with :func:`check_pin`. Without a key press the message is read once more and
the call ends: the alarm stays unacknowledged and escalation goes on.

A flood bundle (:func:`alarms.escalation.messages.bundle`) is announced as such: how many
alarms, then each by its spelled code and a few words, and *To acknowledge these 5 alarms,
press 1*. The codes read out are added to the gather URL (``alarms=A1023.A1007...``; the URL
is signed by Twilio when it calls back), so the key press and PIN acknowledge exactly the
alarms the call announced. Should they not all fit in Twilio's 4000 characters, the details go
first, then codes from the end of the list, and the call says how many were not read out.

Pure functions: no I/O, so the inbound side reuses them and tests parse their XML.
"""

from __future__ import annotations

import hmac
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from alarms.notify.message import Notification, number
from alarms.notify.sms import flood_codes, flood_items

ACK_KEY = "1"
#: The gather URL's parameter listing the codes a bundle's call announced, ``.``-separated.
ALARMS_PARAM = "alarms"
#: Twilio's limit on the ``Twiml`` parameter of a call.
MAX_TWIML = 4000

_UNITS = {
    "°C": "degrees Celsius",
    "C": "degrees Celsius",
    "°F": "degrees Fahrenheit",
    "F": "degrees Fahrenheit",
    "K": "kelvin",
    "%": "percent",
    "%RH": "percent relative humidity",
    "% CO2": "percent C O 2",
    "ppm": "parts per million",
    "mbar": "millibar",
    "kPa": "kilopascal",
    "mm": "millimetres",
    "cm": "centimetres",
    "min": "minutes",
    "s": "seconds",
}


@dataclass(frozen=True)
class Voice:
    """Twilio ``<Say>`` attributes, e.g. ``Polly.Joanna`` / ``en-US``."""

    voice: str = "Polly.Joanna"
    language: str = "en-US"


def spoken_number(value: float) -> str:
    text = number(value)
    return f"minus {text[1:]}" if text.startswith("-") else text


def spoken_quantity(value: float | str | None, unit: str) -> str:
    if value is None:
        return "no value"
    if isinstance(value, str):
        return value
    words = _UNITS.get(unit.strip(), unit)
    return f"{spoken_number(value)} {words}".strip()


def spelled(code: str) -> str:
    """``A1234`` -> ``A 1 2 3 4``: read character by character."""
    return " ".join(code)


def spoken_facts(n: Notification) -> str:
    """What is wrong, as said on a call, in the alarm's sentence shape
    (:meth:`Notification.headline`)."""
    if n.shape == "comm_loss":
        since = n.local(n.raised_at).strftime("%H:%M %Z")
        return f"No data from {n.source or 'the device'} since {since}."
    if n.shape == "system":
        return f"coldwatch reports: {n.condition or 'a check failed'}."
    if n.shape == "calibration":
        return f"The {n.channel or 'sensor'} is past its calibration due date."
    if n.shape == "state":
        value = f", {spoken_quantity(n.value, n.unit)}" if n.value is not None else ""
        return f"The {n.channel or 'input'} reports {n.condition or 'an alarm'}{value}."
    what = f"{n.channel or 'value'} is {spoken_quantity(n.value, n.unit)}"
    limit = spoken_quantity(n.limit, n.unit)
    if n.side is not None:
        return f"The {what}, {n.side} the {n.condition} limit of {limit}."
    condition = f", {n.condition}" if n.condition else ""
    return f"The {what}, limit {limit}{condition}."


def speech(n: Notification, sop_chars: int = 600) -> str:
    """The words of the call."""
    parts = ["This is coldwatch."]
    if n.possible_duplicate:
        parts.append("This call may repeat an earlier one.")
    if n.late:
        parts.append("This message is late.")
    subject = f"{n.priority.capitalize()} alarm {spelled(n.alarm_id)}, {n.equipment}"
    what = f"{n.channel or 'value'} is {spoken_quantity(n.value, n.unit)}"
    facts = spoken_facts(n)
    reads = f" The {what}." if n.shape == "limit" else ""  # what a return or ack leaves
    since = n.local(n.raised_at).strftime("%H:%M %Z")
    when = n.local().strftime("%H:%M %Z")
    since_said = "" if n.shape == "comm_loss" else f" Since {since}."
    if n.kind == "raised":
        parts.append(f"{subject}. {facts}{since_said}")
    elif n.kind == "escalated":
        parts.append(
            f"{subject}, escalated to tier {n.tier}: nobody has acknowledged it since {since}. "
            f"{facts}"
        )
    elif n.kind == "re-alarm":
        parts.append(f"{subject} is still in alarm since {since}. {facts}")
    elif n.kind == "returned-to-normal":
        tail = " It is not acknowledged yet." if n.needs_ack else ""
        parts.append(f"{subject} has returned to normal at {when}.{tail}{reads}")
    elif n.kind == "silenced":
        who = f" by {n.acknowledged_by}" if n.acknowledged_by else ""
        parts.append(f"{subject} was {n.title.lower()}{who} at {when}. Paging has stopped.")
    elif n.kind == "chattering":
        parts.append(
            f"{subject} is chattering: it keeps going into alarm and back since {since}. "
            f"You will not be called for each return; you will hear once it stops. {facts}"
        )
    else:
        who = f" by {n.acknowledged_by}" if n.acknowledged_by else ""
        parts.append(f"{subject} was acknowledged{who} at {when}.{reads}")
    sop = n.sop_first_sentence()
    if sop and n.kind not in ("acknowledged", "silenced"):
        if len(sop) > sop_chars:
            sop = sop[:sop_chars].rsplit(" ", 1)[0] + "."
        parts.append(f"Procedure: {sop}")
    return " ".join(parts)


def call_twiml(n: Notification, gather_url: str | None, voice: Voice | None = None) -> str:
    """The TwiML of a call: the message, a key press to acknowledge, once repeated.

    Without a ``gather_url`` (or when nothing needs acknowledging) the message is only read."""
    voice = voice or Voice()
    codes = flood_codes(n)
    if codes:
        return _bundle_twiml(n, codes, gather_url, voice)
    for sop_chars in (600, 300, 100, 0):
        root = ET.Element("Response")
        text = speech(n, sop_chars) if sop_chars else speech(n.model_copy(update={"sop": ""}))
        for round_ in range(2):
            if gather_url is not None and n.needs_ack:
                gather = ET.SubElement(
                    root,
                    "Gather",
                    {
                        "input": "dtmf",
                        "numDigits": "1",
                        "action": gather_url,
                        "method": "POST",
                        "timeout": "8",
                    },
                )
                _say(gather, text if round_ == 0 else f"Again. {text}", voice)
                _say(gather, f"To acknowledge, press {ACK_KEY}.", voice)
            else:
                _say(root, text if round_ == 0 else f"Again. {text}", voice)
        if gather_url is not None and n.needs_ack:
            _say(root, "No key was pressed. The alarm stays unacknowledged. Goodbye.", voice)
        ET.SubElement(root, "Hangup")
        xml = _document(root)
        if len(xml) <= MAX_TWIML:
            break
    return xml


def with_alarms(url: str, codes: Sequence[str]) -> str:
    """``url`` with the ``alarms`` parameter set to ``codes`` (``A1023.A1007``)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != ALARMS_PARAM]
    query.append((ALARMS_PARAM, ".".join(codes)))
    return urlunsplit(parts._replace(query=urlencode(query)))


def bundle_speech(n: Notification, codes: Sequence[str], heard: int, detail: bool) -> str:
    """The words of a bundle's call: the first ``heard`` codes, with a few words on each
    when ``detail``, and how many were not read out."""
    parts = ["This is coldwatch."]
    if n.possible_duplicate:
        parts.append("This call may repeat an earlier one.")
    if n.late:
        parts.append("This message is late.")
    kind = {
        "escalated": f", escalated to tier {n.tier}: nobody has acknowledged them",
        "re-alarm": ", still in alarm",
        "returned-to-normal": ", returned to normal but not acknowledged",
    }.get(n.kind, "")
    parts.append(f"Alarm flood: {len(codes)} alarms{kind}.")
    parts.append(_bundle_listing(n, codes[:heard], detail))
    if heard < len(codes):
        rest = len(codes) - heard
        parts.append(
            f"{rest} more alarm{'s are' if rest != 1 else ' is'} not read out: acknowledge "
            f"{'them' if rest != 1 else 'it'} by S M S or on the console."
        )
    return " ".join(parts)


def _bundle_listing(n: Notification, codes: Sequence[str], detail: bool) -> str:
    if not detail:
        return f"Alarms {', '.join(spelled(c) for c in codes)}."
    items = flood_items(n)
    return " ".join(f"Alarm {spelled(c)}: {_spoken_units(items.get(c, ''))}." for c in codes)


def _spoken_units(text: str) -> str:
    for sign, words in (("°C", "degrees Celsius"), ("°F", "degrees Fahrenheit")):
        text = text.replace(sign, words)
    return text or "no details"


def _bundle_twiml(
    n: Notification, codes: Sequence[str], gather_url: str | None, voice: Voice
) -> str:
    asks = gather_url is not None and n.needs_ack
    xml = ""
    heard = len(codes)
    while heard >= 1:
        url = with_alarms(gather_url, codes[:heard]) if gather_url is not None else None
        # details in both rounds, then in the first only, then codes only
        for first, again in ((True, True), (True, False), (False, False)):
            root = ET.Element("Response")
            for round_, detail in enumerate((first, again)):
                text = bundle_speech(n, codes, heard, detail)
                text = text if round_ == 0 else f"Again. {text}"
                if asks and url is not None:
                    gather = ET.SubElement(
                        root,
                        "Gather",
                        {
                            "input": "dtmf",
                            "numDigits": "1",
                            "action": url,
                            "method": "POST",
                            "timeout": "8",
                        },
                    )
                    _say(gather, text, voice)
                    these = "this alarm" if heard == 1 else f"these {heard} alarms"
                    _say(gather, f"To acknowledge {these}, press {ACK_KEY}.", voice)
                else:
                    _say(root, text, voice)
            if asks:
                _say(root, "No key was pressed. The alarms stay unacknowledged. Goodbye.", voice)
            ET.SubElement(root, "Hangup")
            xml = _document(root)
            if len(xml) <= MAX_TWIML:
                return xml
        heard = heard - max(1, heard // 4) if heard > 8 else heard - 1
    return xml


def pin_prompt_twiml(action_url: str, voice: Voice | None = None, alarms: int = 1) -> str:
    """After the key press: ask for the PIN, ended by the pound key."""
    voice = voice or Voice()
    stays = "The alarm stays" if alarms == 1 else "The alarms stay"
    root = ET.Element("Response")
    gather = ET.SubElement(
        root,
        "Gather",
        {
            "input": "dtmf",
            "finishOnKey": "#",
            "action": action_url,
            "method": "POST",
            "timeout": "10",
        },
    )
    _say(gather, "Enter your PIN, then press the pound key.", voice)
    _say(root, f"No PIN was entered. {stays} unacknowledged. Goodbye.", voice)
    ET.SubElement(root, "Hangup")
    return _document(root)


def say_twiml(text: str, voice: Voice | None = None) -> str:
    """A last word before hanging up (``Acknowledged, thank you.`` / ``Wrong PIN.``)."""
    root = ET.Element("Response")
    _say(root, text, voice or Voice())
    ET.SubElement(root, "Hangup")
    return _document(root)


def check_key(digits: str | None) -> bool:
    """Whether the first gather got the acknowledge key."""
    return (digits or "").rstrip("#") == ACK_KEY


def check_pin(digits: str | None, pin: str | None) -> bool:
    """Whether gathered ``digits`` (Twilio's ``Digits``, maybe ending in ``#``) are the PIN.

    Constant-time; a person without a PIN cannot acknowledge by phone."""
    if not pin or not digits:
        return False
    entered = digits.strip().removesuffix("#")
    if not entered.isdigit() or not entered.isascii():
        return False
    return hmac.compare_digest(entered.encode(), pin.encode())


def _say(parent: ET.Element, text: str, voice: Voice) -> None:
    say = ET.SubElement(parent, "Say", {"voice": voice.voice, "language": voice.language})
    say.text = text


def _document(root: ET.Element) -> str:
    return '<?xml version="1.0" encoding="UTF-8"?>' + ET.tostring(root, encoding="unicode")
