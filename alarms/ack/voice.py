"""Acknowledging on a call: press 1, enter the PIN and #, done.

The call's TwiML (:func:`alarms.notify.twiml.call_twiml`) posts the key press to
``/twilio/voice/gather?alarm=&person=&key=&step=key``; that URL is signed by Twilio, so the
alarm and the person it names are the ones coldwatch called about. The PIN proves that the
person, not whoever picked up, is acknowledging: a wrong one is refused, recorded and counts
towards the lockout of that person's phone number; three tries per call. Returns TwiML only:
the webhook does the HTTP and the signature.

A flood bundle's call lists the codes it announced in the same signed URL (``alarms=A1023.
A1007...``, :func:`alarms.notify.twiml.with_alarms`): one key press and one PIN acknowledge
each of them, each with its own history row, and the call says how many were acknowledged and
which were not (one acknowledged meanwhile by a colleague, say).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from urllib.parse import urlencode

from alarms.ack.acknowledger import Acknowledger, Outcome
from alarms.ack.refusals import Reason
from alarms.notify.twilio_voice import GATHER_PATH
from alarms.notify.twiml import (
    ALARMS_PARAM,
    Voice,
    check_key,
    pin_prompt_twiml,
    say_twiml,
    spelled,
)

VIA = "voice"
TRIES_PER_CALL = 3
#: A bundle's call announces at most this many codes (Twilio's 4000 characters of TwiML).
MAX_CALL_CODES = 200


class VoiceFlow:
    def __init__(
        self,
        service: Acknowledger,
        public_base_url: str,
        voice: Voice | None = None,
        comment: str = "acknowledged by phone",
        tries: int = TRIES_PER_CALL,
    ) -> None:
        self.service = service
        self.base = public_base_url.rstrip("/")
        self.voice = voice or Voice()
        self.comment = comment
        self.tries = tries

    def gather(self, query: Mapping[str, str], form: Mapping[str, str]) -> str:
        """Answer one gather callback (signature already checked) with TwiML."""
        person_id, codes = query.get("person", ""), _codes(query)
        code = codes[0] if codes else ""
        several = codes if len(codes) > 1 else []
        step, digits = query.get("step", "key"), form.get("Digits", "")
        person = self.service.directory.person(person_id)
        who = form.get("To") or (person.phone if person else None) or "unknown callee"
        if person is None or not code:
            self.service.refuse(
                VIA,
                who,
                Reason.UNKNOWN_PERSON,
                f"the call names no known person ('{person_id}')",
                target=code or None,
            )
            return self._say("This call cannot acknowledge alarms. Goodbye.")
        key = person.phone or f"person:{person.id}"
        if step == "key":
            if not check_key(digits):
                return self._say("Not acknowledged. Goodbye.")
            if self.service.lockout.remaining(key):  # say so now, not after the PIN
                locked = self.service.check_pin(
                    VIA, who, key, [person], None, code, targets=several
                )
                if isinstance(locked, Outcome):
                    return self._say(self._spoken(locked, codes))
            return pin_prompt_twiml(self._action(query, 1), self.voice, max(1, len(codes)))
        try_no = _int(query.get("try"), 1)
        found = self.service.check_pin(VIA, who, key, [person], digits, code, targets=several)
        if isinstance(found, Outcome):
            if found.reason is Reason.WRONG_PIN and not found.locked and try_no < self.tries:
                return self._again(query, try_no + 1, len(codes))
            return self._say(self._spoken(found, codes))
        outcome = self.service.acknowledge_all(found, codes, self.comment, VIA, who)
        return self._say(self._spoken(outcome, codes))

    def _action(self, query: Mapping[str, str], try_no: int) -> str:
        keep = {k: query[k] for k in ("alarm", "person", "key", ALARMS_PARAM) if k in query}
        return f"{self.base}{GATHER_PATH}?{urlencode({**keep, 'step': 'pin', 'try': try_no})}"

    def _again(self, query: Mapping[str, str], try_no: int, alarms: int) -> str:
        root = ET.fromstring(
            pin_prompt_twiml(self._action(query, try_no), self.voice, max(1, alarms))
        )
        say = ET.Element("Say", {"voice": self.voice.voice, "language": self.voice.language})
        say.text = "Wrong PIN."
        root.insert(0, say)
        return '<?xml version="1.0" encoding="UTF-8"?>' + ET.tostring(root, encoding="unicode")

    def _spoken(self, outcome: Outcome, codes: Sequence[str]) -> str:
        if len(codes) <= 1:
            code = codes[0] if codes else ""
            if outcome.ok:
                return f"Alarm {spelled(code)} is acknowledged. Thank you. Goodbye."
            return f"Not acknowledged: {outcome.message}. The alarm stays unacknowledged. Goodbye."
        if outcome.ok:
            return f"All {len(codes)} alarms are acknowledged. Thank you. Goodbye."
        if not outcome.acknowledged:
            return (
                f"Not acknowledged: {outcome.message}. The {len(codes)} alarms stay "
                "unacknowledged. Goodbye."
            )
        missed = "; ".join(f"alarm {spelled(m.target)}: {m.detail}" for m in outcome.missed)
        return (
            f"{len(outcome.acknowledged)} of {len(codes)} alarms are acknowledged. "
            f"Not acknowledged: {missed}. Goodbye."
        )

    def _say(self, text: str) -> str:
        return say_twiml(text, self.voice)


def _codes(query: Mapping[str, str]) -> list[str]:
    """The alarms the call is about: those a bundle's call announced (``alarms``), else the
    one it named (``alarm``); without repeats. Both come from the signed URL."""
    listed = [c for c in query.get(ALARMS_PARAM, "").split(".") if c][:MAX_CALL_CODES]
    head = query.get("alarm", "")
    return list(dict.fromkeys(listed or ([head] if head else [])))


def _int(text: str | None, default: int) -> int:
    try:
        return int(text or default)
    except ValueError:
        return default
