"""Acknowledging on a call: press 1, enter the PIN and #, done.

The call's TwiML (:func:`alarms.notify.twiml.call_twiml`) posts the key press to
``/twilio/voice/gather?alarm=&person=&key=&step=key``; that URL is signed by Twilio, so the
alarm and the person it names are the ones coldwatch called about. The PIN proves that the
person, not whoever picked up, is acknowledging: a wrong one is refused, recorded and counts
towards the lockout of that person's phone number; three tries per call. Returns TwiML only:
the webhook does the HTTP and the signature.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from urllib.parse import urlencode

from alarms.ack.refusals import Reason
from alarms.ack.service import Acknowledger, Outcome
from alarms.notify.twilio_voice import GATHER_PATH
from alarms.notify.twiml import Voice, check_key, pin_prompt_twiml, say_twiml, spelled

VIA = "voice"
TRIES_PER_CALL = 3


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
        code, person_id = query.get("alarm", ""), query.get("person", "")
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
                locked = self.service.check_pin(VIA, who, key, [person], None, code)
                if isinstance(locked, Outcome):
                    return self._say(self._spoken(locked, code))
            return pin_prompt_twiml(self._action(query, 1), self.voice)
        try_no = _int(query.get("try"), 1)
        found = self.service.check_pin(VIA, who, key, [person], digits, code)
        if isinstance(found, Outcome):
            if found.reason is Reason.WRONG_PIN and not found.locked and try_no < self.tries:
                return self._again(query, try_no + 1)
            return self._say(self._spoken(found, code))
        outcome = self.service.acknowledge(found, code, self.comment, VIA, who)
        return self._say(self._spoken(outcome, code))

    def _action(self, query: Mapping[str, str], try_no: int) -> str:
        keep = {k: query[k] for k in ("alarm", "person", "key") if k in query}
        return f"{self.base}{GATHER_PATH}?{urlencode({**keep, 'step': 'pin', 'try': try_no})}"

    def _again(self, query: Mapping[str, str], try_no: int) -> str:
        root = ET.fromstring(pin_prompt_twiml(self._action(query, try_no), self.voice))
        say = ET.Element("Say", {"voice": self.voice.voice, "language": self.voice.language})
        say.text = "Wrong PIN."
        root.insert(0, say)
        return '<?xml version="1.0" encoding="UTF-8"?>' + ET.tostring(root, encoding="unicode")

    def _spoken(self, outcome: Outcome, code: str) -> str:
        if outcome.ok:
            return f"Alarm {spelled(code)} is acknowledged. Thank you. Goodbye."
        return f"Not acknowledged: {outcome.message}. The alarm stays unacknowledged. Goodbye."

    def _say(self, text: str) -> str:
        return say_twiml(text, self.voice)


def _int(text: str | None, default: int) -> int:
    try:
        return int(text or default)
    except ValueError:
        return default
