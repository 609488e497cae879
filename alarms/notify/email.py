"""E-mail over SMTP (aiosmtplib): the full story of the alarm, for the record and for QA.

STARTTLS (port 587) by default, implicit TLS (465) or plain (25, loopback relays only);
certificates are verified unless ``verify: false``, with ``ca_file`` for a private CA. Every
mail on one alarm carries ``References: <alarm-A1234@...>`` so mail clients thread them.
One connection per message: pages are rare and a kept-open session is one more thing to go
stale at 3 a.m.
"""

from __future__ import annotations

import re
import ssl
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid
from ipaddress import ip_address
from typing import Literal

import aiosmtplib
from pydantic import Field, model_validator

from alarms.notify.base import DeliveryResult, NotifierSettings, NotifyError
from alarms.notify.message import Notification
from alarms.notify.sms import flood_codes, reply_line
from alarms.people import Person
from monitor.core.clock import Clock, SystemClock
from monitor.core.durations import Duration
from monitor.core.secrets import Secret

_DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}


class EmailSettings(NotifierSettings):
    type: Literal["email"] = "email"
    host: str = Field(min_length=1)
    port: int | None = Field(default=None, ge=1, le=65535)
    """Default 587 (starttls), 465 (tls) or 25 (none)."""
    security: Literal["starttls", "tls", "none"] = "starttls"
    verify: bool = True
    ca_file: str | None = None
    username: str | None = None
    password: Secret | None = None
    password_env: str | None = None
    password_file: str | None = None
    from_address: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    from_name: str = "coldwatch"
    subject_prefix: str = "[coldwatch]"
    timeout: Duration = Field(default=20.0, gt=0, le=300)

    @model_validator(mode="after")
    def _consistent(self) -> EmailSettings:
        has_password = bool(self.password or self.password_env or self.password_file)
        if has_password and self.username is None:
            raise ValueError("a password needs a 'username'")
        if self.security == "none" and has_password and not _loopback(self.host):
            raise ValueError("security: none would send the password in clear; use starttls")
        if self.ca_file is not None and not self.verify:
            raise ValueError("verify: false checks nothing, so ca_file would be ignored")
        return self

    @property
    def effective_port(self) -> int:
        return self.port or _DEFAULT_PORTS[self.security]


class EmailNotifier:
    def __init__(self, name: str, settings: EmailSettings, *, clock: Clock | None = None) -> None:
        self.name = name
        self.settings = settings
        self.clock = clock or SystemClock()

    def compose(self, notification: Notification, target: Person) -> EmailMessage:
        """The message as sent (headers and a plain-text body)."""
        s = self.settings
        n = notification
        domain = s.from_address.rpartition("@")[2]
        msg = EmailMessage()
        msg["Subject"] = subject(n, s.subject_prefix)
        msg["From"] = formataddr((s.from_name, s.from_address))
        msg["To"] = formataddr((target.name, target.email or ""))
        msg["Date"] = format_datetime(self.clock.now())
        msg["Message-ID"] = make_msgid(n.alarm_id, domain)
        msg["References"] = f"<alarm-{n.alarm_id}@{domain}>"
        msg["Auto-Submitted"] = "auto-generated"
        msg["X-Coldwatch-Alarm"] = n.alarm_id
        msg["X-Coldwatch-Kind"] = n.kind
        if n.active and n.priority.lower() in ("critical", "high", "urgent"):
            msg["X-Priority"] = "1"
            msg["Importance"] = "high"
        msg.set_content(body(n))
        return msg

    async def send(self, notification: Notification, target: Person) -> DeliveryResult:
        if not target.email:
            raise NotifyError(f"{target.id} has no e-mail address", retryable=False, recipient=True)
        s = self.settings
        msg = self.compose(notification, target)
        password = s.required_secret("password") if s.username else None
        try:
            await aiosmtplib.send(
                msg,
                hostname=s.host,
                port=s.effective_port,
                username=s.username,
                password=password,
                use_tls=s.security == "tls",
                start_tls=s.security == "starttls",
                validate_certs=s.verify,
                cert_bundle=s.ca_file,
                timeout=s.timeout,
            )
        except (aiosmtplib.SMTPException, ssl.SSLError, OSError) as exc:
            raise classify(exc, s.host) from None
        return DeliveryResult(str(msg["Message-ID"]))

    async def aclose(self) -> None:
        pass


CHATTERING_NOTE = (
    "The alarm keeps going into alarm and back to normal. Its returns and recurrences are not "
    "paged while it chatters; escalation goes on until it is acknowledged, and you are told "
    "once when it stops."
)


def subject(n: Notification, prefix: str) -> str:
    return f"{prefix} {n.summary()}".strip()


def body(n: Notification) -> str:
    condition = f" ({n.condition})" if n.condition else ""
    lines = [
        f"{n.title}: alarm {n.alarm_id} ({n.priority})",
        "",
        f"Equipment:   {n.equipment}",
    ]
    if n.site:
        lines.append(f"Site:        {n.site}")
    if n.channel:
        lines.append(f"Channel:     {n.channel}")
    if n.shape == "limit":
        lines += [
            f"Value:       {n.reading_text()}",
            f"Limit:       {n.limit_text()}{condition}",
        ]
    else:  # no limit to show: what is wrong, in the alarm's own words
        lines.append(f"Problem:     {n.headline()}")
        if n.shape == "state" and n.value is not None:
            lines.append(f"Value:       {n.reading_text()}")
    lines += [
        f"State:       {n.state}, escalation tier {n.tier}",
        f"Raised:      {n.local_text(n.raised_at)} ({n.utc_text(n.raised_at)})",
        f"This event:  {n.kind} at {n.local_text()} ({n.utc_text()})",
    ]
    if n.kind == "acknowledged":
        lines.append(f"Acknowledged by: {n.acknowledged_by or 'unknown'}")
    elif n.kind == "silenced":
        lines.append(f"{n.title.capitalize()} by: {n.acknowledged_by or 'coldwatch (by design)'}")
    if n.kind in ("acknowledged", "silenced") and n.comment:
        lines.append(f"Comment:     {n.comment}")
    if n.kind == "chattering":
        lines += ["", CHATTERING_NOTE]
    if n.possible_duplicate:
        lines += ["", "This may repeat an earlier message whose delivery was not confirmed."]
    if n.late:
        lines += ["", "This message is late: the event happened earlier than it is reported."]
    if n.sop:
        lines += ["", "What to do (SOP):", n.sop]
    if n.needs_ack:
        lines += [
            "",
            "To acknowledge: reply to the SMS with",
            f"    {reply_line(flood_codes(n) or (n.alarm_id,))}",
            "from your registered phone, or answer the call, press 1 and enter your PIN.",
        ]
    return "\n".join(lines) + "\n"


def classify(exc: BaseException, host: str) -> NotifyError:
    """An SMTP failure as retryable (4xx, network, timeouts) or not (5xx, auth, TLS trust)."""
    if _cert_failure(exc):
        return NotifyError(
            f"TLS certificate of {host} not trusted (set ca_file, or verify: false on a bench)",
            retryable=False,
        )
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        retryable = any(400 <= c < 500 for c in codes)
        text = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
        # the address itself (5.1.x: no such user, bad mailbox); not a relay or policy refusal
        about_address = all(re.search(r"\b[45]\.1\.\d+\b", r.message) for r in exc.recipients)
        return NotifyError(
            f"recipient refused by {host}: {text}", retryable=retryable, recipient=about_address
        )
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return NotifyError(f"{host} refused the login ({exc.code})", retryable=False)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return NotifyError(
            f"{host} answered {exc.code} {exc.message}", retryable=not 500 <= exc.code < 600
        )
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        return NotifyError(f"{host}: {exc}", retryable=False)
    if isinstance(exc, aiosmtplib.SMTPConnectError | aiosmtplib.SMTPConnectTimeoutError):
        return NotifyError(f"cannot connect to {host}: {exc}", retryable=True)
    if isinstance(exc, TimeoutError):
        return NotifyError(f"{host} timed out", retryable=True, outcome_unknown=True)
    if isinstance(exc, ssl.SSLError):
        return NotifyError(f"TLS with {host} failed: {exc.reason}", retryable=False)
    return NotifyError(
        f"SMTP with {host} failed: {type(exc).__name__}", retryable=True, outcome_unknown=True
    )


def _cert_failure(exc: BaseException | None) -> bool:
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, ssl.SSLCertVerificationError):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False
