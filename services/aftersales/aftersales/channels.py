"""Channels a message goes out through, behind one interface, and the sandbox SMS provider.

`Channel.send(session, message_id=, phone=, body=)` either accepts the message or raises
`ChannelError` with the provider's answer; the caller records the attempt. A real SMS gateway is
another implementation of the same interface (an HTTP call); the sandbox (like billing's sandbox
payments) accepts, records what it was handed in its own table (`sandbox_sms`, the phone masked)
and can be told to fail: `AFTERSALES_SMS_SANDBOX_FAIL`, or an admin's
`PUT /api/v1/notifications/sandbox-sms {fail, error}`, which wins over the setting.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from ecom_common.privacy import mask_phone

from .models import SandboxSms, SandboxSwitch

SMS = "sms"


class ChannelError(Exception):
    """The provider refused or failed the message; str(error) is its answer."""


class Channel(Protocol):
    name: str

    def send(self, session: Session, *, message_id: str, phone: str | None, body: str) -> None: ...


class SandboxSmsProvider:
    name = SMS

    def __init__(self, now: datetime, fail_by_default: bool = False):
        self.now = now
        self.fail_by_default = fail_by_default

    def failing(self, session: Session) -> tuple[bool, str]:
        switch = session.get(SandboxSwitch, SMS)
        if switch is None:
            return self.fail_by_default, "sandbox SMS provider told to fail (AFTERSALES_SMS_SANDBOX_FAIL)"
        return switch.fail, switch.error or "sandbox SMS provider told to fail"

    def send(self, session: Session, *, message_id: str, phone: str | None, body: str) -> None:
        if not phone:
            raise ChannelError("no phone number for the buyer")
        fail, error = self.failing(session)
        session.add(
            SandboxSms(
                message_id=message_id,
                phone_masked=mask_phone(phone) or "",
                body=body,
                accepted=not fail,
                error=error if fail else None,
                at=self.now,
            )
        )
        if fail:
            raise ChannelError(error)
