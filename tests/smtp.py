"""A real SMTP server for tests: aiosmtpd on a loopback port, keeping every message it accepts."""

from __future__ import annotations

import contextlib
import email
import email.policy
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from monitor.bus.broker import free_port


@dataclass
class Inbox:
    """An aiosmtpd handler: the messages accepted so far and the recipients of each."""

    messages: list[EmailMessage] = field(default_factory=list)
    recipients: list[list[str]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd hook
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 OK"


def _echo_credentials(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    """Refuse every login, quoting the credentials back as some real servers do."""
    assert isinstance(data, LoginPassword)
    who = f"{data.login.decode()}:{data.password.decode()}"
    return AuthResult(success=False, handled=False, message=f"535 5.7.8 bad credentials {who}")


@contextlib.contextmanager
def smtp_server(port: int | None = None, *, echo_credentials: bool = False) -> Iterator[tuple[Inbox, int]]:
    """Run an SMTP server on ``port`` (a free one if None) for as long as the context is open.

    With ``echo_credentials`` it offers AUTH without TLS and refuses every login with a 535 reply
    that quotes the user name and password it was given: the test of every secret-masking path.
    """
    inbox, port = Inbox(), port or free_port()
    auth: dict[str, Any] = {}
    if echo_credentials:
        auth = {"authenticator": _echo_credentials, "auth_require_tls": False}
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **auth)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def mailto(port: int, **params: str) -> str:
    """Return an apprise URL for the server on ``port``: plain SMTP (no STARTTLS), no login."""
    query = {"from": "newsmon@example.org", "cto": "5", **params}
    return f"mailto://127.0.0.1:{port}/desk@example.org?" + "&".join(f"{k}={v}" for k, v in query.items())
