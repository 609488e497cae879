"""E-mail against a real SMTP server on loopback (aiosmtpd): headers, body, STARTTLS, implicit
TLS, login, certificate trust and which failures are retryable."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from pydantic import ValidationError

from alarms.notify.base import NotifyError
from alarms.notify.email import EmailNotifier, EmailSettings
from monitor.core.clock import FakeClock
from tests.support.notify import SOP, T0, Tls, make_tls, notification, person
from tests.support.ports import ClosedPorts, free_port


@dataclass
class Mailbox:
    """aiosmtpd handler: keeps what arrives; refuses 'bounce*' (550) and 'busy*' (451)."""

    messages: list[tuple[str, list[str], EmailMessage]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    tls_seen: list[bool] = field(default_factory=list)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address.startswith("bounce"):
            return "550 5.1.1 No such user"
        if address.startswith("busy"):
            return "451 4.3.0 Mailbox busy, try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), msg))
        ssl_object = server.transport.get_extra_info("ssl_object")  # implicit TLS or STARTTLS
        self.tls_seen.append(ssl_object is not None)
        return "250 Message accepted"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        ok = auth_data.login == b"coldwatch" and auth_data.password == b"mail-secret"
        if ok:
            self.logins.append(auth_data.login.decode())
        return AuthResult(success=ok, handled=False)  # handled=False: the server answers 535


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return make_tls(tmp_path_factory.mktemp("tls"))


@dataclass
class Server:
    port: int
    mailbox: Mailbox


def _serve(mode: str, tls: Tls | None = None) -> Iterator[Server]:
    mailbox = Mailbox()
    port = free_port()
    kwargs: dict[str, Any] = {"hostname": "127.0.0.1", "port": port, "server_hostname": "localhost"}
    if mode == "starttls":
        assert tls is not None
        kwargs.update(
            tls_context=tls.server_context(),
            require_starttls=True,
            authenticator=mailbox.authenticate,
            auth_require_tls=True,
        )
    elif mode == "tls":
        assert tls is not None
        kwargs.update(ssl_context=tls.server_context())
    controller = Controller(mailbox, **kwargs)
    controller.start()  # a thread of its own: stopped below, or the leak check fails the test
    try:
        yield Server(port, mailbox)
    finally:
        controller.stop()


@pytest.fixture
def plain_server() -> Iterator[Server]:
    yield from _serve("none")


@pytest.fixture
def starttls_server(tls: Tls) -> Iterator[Server]:
    yield from _serve("starttls", tls)


@pytest.fixture
def tls_server(tls: Tls) -> Iterator[Server]:
    yield from _serve("tls", tls)


def mailer(port: int, **changes: Any) -> EmailNotifier:
    options: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "from_address": "coldwatch@lab.example.org",
        "timeout": 5,
    }
    options.update(changes)
    return EmailNotifier("mail", EmailSettings(**options), clock=FakeClock(T0))


async def test_headers_and_body(plain_server: Server) -> None:
    n = notification()
    result = await mailer(plain_server.port).send(n, person())
    ((sender, recipients, msg),) = plain_server.mailbox.messages
    assert sender == "coldwatch@lab.example.org"
    assert recipients == ["alice@lab.example.org"]
    assert msg["Subject"] == (
        "[coldwatch] A1007 CRITICAL ALARM: ULT-03 -80 freezer, chamber temperature -61.5 °C "
        "above high limit -65 °C"
    )
    assert msg["From"] == "coldwatch <coldwatch@lab.example.org>"
    assert msg["To"] == "Alice Meyer <alice@lab.example.org>"
    assert msg["Date"] == "Sun, 01 Mar 2026 02:12:05 +0000"
    assert msg["Message-ID"] == result.provider_id
    assert msg["Message-ID"].endswith("@lab.example.org>")
    assert msg["References"] == "<alarm-A1007@lab.example.org>"
    assert msg["X-Coldwatch-Alarm"] == "A1007"
    assert msg["X-Coldwatch-Kind"] == "raised"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["X-Priority"] == "1"
    body = msg.get_content()
    assert "Equipment:   ULT-03 -80 freezer" in body
    assert "Value:       -61.5 °C" in body
    assert "Limit:       -65 °C (high)" in body
    assert "Raised:      2026-03-01 03:12:05 CET (2026-03-01 02:12:05 UTC)" in body
    assert SOP in body  # the whole SOP, not only its first sentence
    assert "ACK A1007 <PIN> <comment>" in body
    assert plain_server.mailbox.tls_seen == [False]


async def test_acknowledgement_mail_has_no_ack_request(plain_server: Server) -> None:
    n = notification(kind="acknowledged", state="ACKED", acknowledged_by="Bob", comment="done")
    await mailer(plain_server.port).send(n, person())
    msg = plain_server.mailbox.messages[0][2]
    assert "X-Priority" not in msg
    body = msg.get_content()
    assert "Acknowledged by: Bob" in body and "Comment:     done" in body
    assert "ACK A1007" not in body


async def test_starttls_with_login_and_a_private_ca(starttls_server: Server, tls: Tls) -> None:
    m = mailer(
        starttls_server.port,
        security="starttls",
        ca_file=tls.ca,
        username="coldwatch",
        password="mail-secret",
        host="localhost",
    )
    await m.send(notification(), person())
    assert starttls_server.mailbox.logins == ["coldwatch"]
    assert starttls_server.mailbox.tls_seen == [True]


async def test_untrusted_certificate_is_not_retryable(starttls_server: Server) -> None:
    m = mailer(starttls_server.port, security="starttls", host="localhost")
    with pytest.raises(NotifyError, match="not trusted") as info:
        await m.send(notification(), person())
    assert not info.value.retryable
    assert starttls_server.mailbox.messages == []


async def test_verify_false_accepts_it(starttls_server: Server) -> None:
    m = mailer(
        starttls_server.port,
        security="starttls",
        verify=False,
        username="coldwatch",
        password="mail-secret",
    )
    await m.send(notification(), person())
    assert len(starttls_server.mailbox.messages) == 1


async def test_wrong_password_is_not_retryable(starttls_server: Server, tls: Tls) -> None:
    m = mailer(
        starttls_server.port,
        security="starttls",
        ca_file=tls.ca,
        username="coldwatch",
        password="wrong",
    )
    with pytest.raises(NotifyError, match="refused the login") as info:
        await m.send(notification(), person())
    assert not info.value.retryable
    assert "wrong" not in str(info.value)


async def test_implicit_tls(tls_server: Server, tls: Tls) -> None:
    await mailer(tls_server.port, security="tls", ca_file=tls.ca).send(notification(), person())
    assert tls_server.mailbox.tls_seen == [True]


async def test_recipient_refusals(plain_server: Server) -> None:
    m = mailer(plain_server.port)
    with pytest.raises(NotifyError, match="550") as permanent:
        await m.send(notification(), person(email="bounce@lab.example.org"))
    assert not permanent.value.retryable
    with pytest.raises(NotifyError, match="451") as transient:
        await m.send(notification(), person(email="busy@lab.example.org"))
    assert transient.value.retryable
    assert plain_server.mailbox.messages == []


async def test_nobody_listening_is_retryable(closed_port: ClosedPorts) -> None:
    with pytest.raises(NotifyError, match="cannot connect") as info:
        await mailer(closed_port()).send(notification(), person())
    assert info.value.retryable


async def test_no_address_is_not_retryable(closed_port: ClosedPorts) -> None:
    with pytest.raises(NotifyError) as info:
        await mailer(closed_port()).send(notification(), person(email=None))
    assert not info.value.retryable


def test_settings(tmp_path: Path) -> None:
    base = {"host": "smtp.example.org", "from_address": "cw@example.org"}
    assert EmailSettings(**base).effective_port == 587
    assert EmailSettings(**base, security="tls").effective_port == 465
    with pytest.raises(ValidationError, match="password in clear"):
        EmailSettings(**base, security="none", username="u", password="p")
    with pytest.raises(ValidationError, match="needs a 'username'"):
        EmailSettings(**base, password="p")
    with pytest.raises(ValidationError, match="ca_file would be ignored"):
        EmailSettings(**base, verify=False, ca_file="/x")
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    settings = EmailSettings(**base, username="u", password_file=str(secret))
    assert settings.secret("password") == "s3cret"
    assert "s3cret" not in repr(settings)


def test_a_refused_address_is_the_recipients_a_refused_relay_is_not() -> None:
    import aiosmtplib

    from alarms.notify.email import classify

    unknown = aiosmtplib.SMTPRecipientsRefused(
        [aiosmtplib.SMTPRecipientRefused(550, "5.1.1 <x@example.org>: user unknown", "x")]
    )
    relay = aiosmtplib.SMTPRecipientsRefused(
        [aiosmtplib.SMTPRecipientRefused(554, "5.7.1 Relay access denied", "x")]
    )
    assert classify(unknown, "mail.example.org").recipient is True
    assert classify(relay, "mail.example.org").recipient is False
