import socket
from dataclasses import dataclass, field

import pytest
from aiosmtpd.controller import Controller
from django.core.mail.utils import DNS_NAME


@dataclass
class Inbox:
    """What the SMTP server on 127.0.0.1 received: one entry per message (its envelope
    recipients and its text), and addresses it refuses (``refuse``)."""

    messages: list = field(default_factory=list)
    refuse: set = field(default_factory=set)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 mailbox unavailable (refused by the test)"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((tuple(envelope.rcpt_tos), envelope.content.decode("utf-8", "replace")))
        return "250 Message accepted for delivery"

    def to(self, address):
        return [text for rcpts, text in self.messages if address in rcpts]

    def recipients(self):
        return sorted(address for rcpts, _ in self.messages for address in rcpts)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp(settings):
    """A real SMTP server (aiosmtpd) on a free port of 127.0.0.1, with Django's SMTP
    backend pointed at it."""
    inbox = Inbox()
    # Named hosts: no reverse DNS lookup (socket.getfqdn) by the server or the Message-ID.
    DNS_NAME._fqdn = "localhost"
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port(), server_hostname="localhost")
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    try:
        yield inbox
    finally:
        controller.stop()
