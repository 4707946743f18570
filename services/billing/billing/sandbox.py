"""The sandbox payment provider that lives inside billing and behaves like a real one.

- A payment intent is created (`requires_confirmation`) and confirmed (`pending`) in billing's own
  transaction, so an intent exists exactly when billing's payment does.
- After billing commits, the provider resolves the intent on its own schedule (a background thread,
  `BILLING_SANDBOX_CONFIRM_DELAY_MS` later) to the outcome the documented test cards dictate, and
  tells billing through a signed webhook over real HTTP (`X-Sandbox-Signature: t=<ts>,v1=<hex>`).
- A webhook that did not get a 2xx, or an intent still pending after
  `BILLING_SANDBOX_RETRY_AFTER_SECONDS`, is (re)sent by the `sandbox-webhook-retry` job: providers
  retry; billing is replay-safe by the provider event id.
- Refunds go back to the intent (the original payment route) and can never exceed what it captured.

Billing's own code talks to the provider only through this class; the provider's tables
(`sandbox_*`) are its books, not billing's, and its rules (the intent's state machine, the
documented test cards and their outcomes) are written here, above the class.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import requests
import sqlalchemy as sa

from ecom_common import ids
from ecom_common.db import Database, session_scope
from ecom_common.errors import DomainError, IllegalTransition, RuleViolation
from ecom_common.settings import settings_of

from . import domain
from .models import SandboxEvent, SandboxIntent, SandboxRefund
from .settings import Settings

log = logging.getLogger("billing.sandbox")

# (url, body, headers) -> HTTP status code; replaced in unit tests by a Flask test client call.
Transport = Callable[[str, bytes, dict], int]

EVENT_SUCCEEDED = "payment_intent.succeeded"
EVENT_FAILED = "payment_intent.payment_failed"


def http_transport(url: str, body: bytes, headers: dict) -> int:
    return requests.post(url, data=body, headers=headers, timeout=5).status_code


class ProviderRefusedError(DomainError):
    """The provider would not do it (e.g. refund above what the intent captured)."""


# The provider's rules: its intents' state machine and its deterministic outcomes ----------------
class IntentStatus:
    REQUIRES_CONFIRMATION = "requires_confirmation"
    PENDING = "pending"  # confirmed, the provider is processing
    SUCCEEDED = "succeeded"
    FAILED = "failed"


INTENT_TRANSITIONS = {
    IntentStatus.REQUIRES_CONFIRMATION: {IntentStatus.PENDING},
    IntentStatus.PENDING: {IntentStatus.SUCCEEDED, IntentStatus.FAILED},
    IntentStatus.SUCCEEDED: set(),
    IntentStatus.FAILED: set(),
}


def check_intent_transition(current: str, target: str) -> None:
    if target not in INTENT_TRANSITIONS.get(current, set()):
        raise IllegalTransition("payment intent", current, f"move to {target}")


@dataclass(frozen=True)
class PlannedOutcome:
    status: str  # succeeded | failed
    failure_code: str | None = None
    # False: the provider does not confirm on its own schedule; only its retry (the
    # sandbox-webhook-retry job) resolves the intent. Lets tests and demos see a stuck intent.
    auto_confirm: bool = True

    @property
    def message(self) -> str | None:
        return FAILURE_MESSAGES.get(self.failure_code) if self.failure_code else None


FAILURE_MESSAGES = {
    "card_declined": "the card was declined",
    "insufficient_funds": "the card has insufficient funds",
    "expired_card": "the card has expired",
    "processing_error": "the issuer could not process the payment",
}

TEST_CARDS: dict[str, PlannedOutcome] = {
    "4242424242424242": PlannedOutcome("succeeded"),
    "4000000000000002": PlannedOutcome("failed", "card_declined"),
    "4000000000009995": PlannedOutcome("failed", "insufficient_funds"),
    "4000000000000069": PlannedOutcome("failed", "expired_card"),
    "4000000000000119": PlannedOutcome("failed", "processing_error"),
    "4000000000000077": PlannedOutcome("succeeded", auto_confirm=False),
}


def plan_outcome(method: str, card_number: str | None) -> PlannedOutcome:
    """What the sandbox will answer for this payment. Wallets always succeed; documented test cards
    behave as documented; any other Luhn-valid card succeeds."""
    if method not in domain.METHODS:
        raise RuleViolation(f"unknown payment method {method!r}", {"method": [f"one of {', '.join(domain.METHODS)}"]})
    if method in domain.WALLETS:
        if card_number:
            raise RuleViolation("card_number is only for method card", {"card_number": ["only for method card"]})
        return PlannedOutcome("succeeded")
    if not card_number:
        raise RuleViolation("method card needs a card_number", {"card_number": ["Missing data for required field."]})
    if card_number in TEST_CARDS:
        return TEST_CARDS[card_number]
    if not domain.luhn_ok(card_number):
        raise RuleViolation("the card number is not valid", {"card_number": ["not a valid card number"]})
    return PlannedOutcome("succeeded")


class SandboxProvider:
    def __init__(self, db: Database, transport: Transport | None = None):
        self.db = db
        self.config = db.config
        self.transport = transport or http_transport

    @property
    def settings(self) -> Settings:
        return settings_of(self.config, Settings)

    # Inside billing's transaction ------------------------------------------------------------
    def create_intent(self, session, reference: str, charge: domain.Charge) -> SandboxIntent:
        plan = plan_outcome(charge.method, charge.card_number)
        now = self.config.clock.now()
        intent = SandboxIntent(
            intent_id=ids.new_id(domain.INTENT_ID, now),
            reference=reference,
            order_id=charge.order_id,
            amount_fen=charge.amount_fen,
            refunded_fen=0,
            method=charge.method,
            card_last4=charge.card_number[-4:] if charge.card_number else None,
            planned_status=plan.status,
            failure_code=plan.failure_code,
            auto_confirm=plan.auto_confirm,
            status=IntentStatus.REQUIRES_CONFIRMATION,
            created_at=now,
        )
        session.add(intent)
        session.flush()
        return intent

    def confirm(self, session, intent: SandboxIntent) -> None:
        check_intent_transition(intent.status, IntentStatus.PENDING)
        now = self.config.clock.now()
        moved = session.execute(
            sa.update(SandboxIntent)
            .where(
                SandboxIntent.intent_id == intent.intent_id,
                SandboxIntent.status == IntentStatus.REQUIRES_CONFIRMATION,
            )
            .values(status=IntentStatus.PENDING, confirmed_at=now)
        ).rowcount
        if moved != 1:
            raise IllegalTransition("payment intent", intent.status, "confirm")

    def refund(self, session, intent_id: str, reference: str, amount_fen: int) -> str:
        """Refund to the intent's route. The intent's captured amount is the hard ceiling."""
        now = self.config.clock.now()
        taken = session.execute(
            sa.update(SandboxIntent)
            .where(
                SandboxIntent.intent_id == intent_id,
                SandboxIntent.status == IntentStatus.SUCCEEDED,
                SandboxIntent.refunded_fen + amount_fen <= SandboxIntent.amount_fen,
            )
            .values(refunded_fen=SandboxIntent.refunded_fen + amount_fen)
        ).rowcount
        if taken != 1:
            raise ProviderRefusedError(f"the provider refused to refund {amount_fen} fen on {intent_id}")
        refund_id = ids.new_id(domain.PROVIDER_REFUND_ID, now)
        session.add(
            SandboxRefund(
                provider_refund_id=refund_id,
                intent_id=intent_id,
                reference=reference,
                amount_fen=amount_fen,
                created_at=now,
            )
        )
        return refund_id

    # The provider's own work, in its own transactions ------------------------------------------
    def resolve(self, intent_id: str) -> str | None:
        """Decide a pending intent (deterministically, by its test card) and write the webhook event
        it owes; returns that event's id (also for an intent resolved earlier), None if unknown."""
        now = self.config.clock.now()
        with session_scope(self.db) as session:
            intent = session.get(SandboxIntent, intent_id)
            if intent is None:
                return None
            if intent.status == IntentStatus.PENDING:
                moved = session.execute(
                    sa.update(SandboxIntent)
                    .where(SandboxIntent.intent_id == intent_id, SandboxIntent.status == IntentStatus.PENDING)
                    .values(status=intent.planned_status, resolved_at=now)
                ).rowcount
                if moved == 1:
                    session.refresh(intent)
                    session.add(self._event_for(intent, now))
            event_id = session.execute(
                sa.select(SandboxEvent.event_id).where(SandboxEvent.intent_id == intent_id)
            ).scalar_one_or_none()
        return event_id

    def _event_for(self, intent: SandboxIntent, now) -> SandboxEvent:
        succeeded = intent.status == IntentStatus.SUCCEEDED
        event_id = ids.new_id(domain.PROVIDER_EVENT_ID, now)
        body = {
            "id": event_id,
            "type": EVENT_SUCCEEDED if succeeded else EVENT_FAILED,
            "created": int(now.timestamp()),
            "data": {
                "object": {
                    "id": intent.intent_id,
                    "object": "payment_intent",
                    "reference": intent.reference,
                    "order_id": intent.order_id,
                    "amount_fen": intent.amount_fen,
                    "currency": "CNY",
                    "method": intent.method,
                    "card_last4": intent.card_last4,
                    "status": intent.status,
                    "failure_code": None if succeeded else intent.failure_code,
                    "failure_message": None if succeeded else FAILURE_MESSAGES.get(intent.failure_code or ""),
                }
            },
        }
        return SandboxEvent(
            event_id=event_id,
            intent_id=intent.intent_id,
            event_type=body["type"],
            body=json.dumps(body, separators=(",", ":")),
            created_at=now,
            attempts=0,
        )

    def deliver(self, event_id: str) -> bool:
        """POST the event, signed now, to billing's webhook; True when billing answered 2xx."""
        now = self.config.clock.now()
        with session_scope(self.db) as session:
            event = session.get(SandboxEvent, event_id)
            if event is None:
                return False
            body = event.body.encode()
        headers = {
            "Content-Type": "application/json",
            domain.SIGNATURE_HEADER: domain.sign(
                self.settings.signing_secret(self.config.jwt_secret), body, int(now.timestamp())
            ),
        }
        error = None
        try:
            status = self.transport(self.settings.webhook_target(self.config.peers["billing"]), body, headers)
            ok = 200 <= status < 300
            if not ok:
                error = f"webhook answered {status}"
        except Exception as exc:  # the receiver is down: keep the event for the retry job
            ok, error = False, f"{type(exc).__name__}: {exc}"[:300]
        with session_scope(self.db) as session:
            values = dict(attempts=SandboxEvent.attempts + 1, last_attempt_at=now, last_error=error)
            if ok:
                values["delivered_at"] = now
            session.execute(sa.update(SandboxEvent).where(SandboxEvent.event_id == event_id).values(**values))
        if not ok:
            log.warning("sandbox webhook %s not delivered: %s", event_id, error)
        return ok

    def resolve_and_deliver(self, intent_id: str) -> bool:
        event_id = self.resolve(intent_id)
        return bool(event_id) and self.deliver(event_id)

    def confirm_later(self, intent: SandboxIntent) -> threading.Thread | None:
        """What a real provider does after confirm: settle asynchronously and call the webhook.
        Called after billing's commit with the intent in hand: it reads nothing (a database lost
        right after the commit must not fail a payment that exists; the retry job resends)."""
        if not self.settings.sandbox_auto_confirm or not intent.auto_confirm:
            return None
        intent_id = intent.intent_id

        def run():
            try:
                self.resolve_and_deliver(intent_id)
            except Exception:
                log.exception("sandbox confirmation of %s failed; the retry job will resend", intent_id)

        timer = threading.Timer(self.settings.confirm_delay_s, run)
        timer.daemon = True
        timer.name = f"sandbox-confirm-{intent_id}"
        timer.start()
        return timer

    def redeliver_due(self) -> int:
        """The provider's retry: resolve intents pending for too long and resend undelivered events."""
        now = self.config.clock.now()
        cutoff = now - timedelta(seconds=self.settings.sandbox_retry_after_seconds)
        with session_scope(self.db) as session:
            stuck = (
                session.execute(
                    sa.select(SandboxIntent.intent_id)
                    .where(SandboxIntent.status == IntentStatus.PENDING, SandboxIntent.confirmed_at <= cutoff)
                    .order_by(SandboxIntent.confirmed_at)
                    .limit(200)
                )
                .scalars()
                .all()
            )
        for intent_id in stuck:
            self.resolve(intent_id)
        with session_scope(self.db) as session:
            undelivered = (
                session.execute(
                    sa.select(SandboxEvent.event_id)
                    .where(
                        SandboxEvent.delivered_at.is_(None),
                        sa.or_(
                            SandboxEvent.intent_id.in_(stuck) if stuck else sa.false(),
                            SandboxEvent.created_at <= cutoff,
                        ),
                    )
                    .where(
                        sa.or_(
                            SandboxEvent.last_attempt_at.is_(None),
                            SandboxEvent.last_attempt_at <= cutoff,
                            SandboxEvent.intent_id.in_(stuck) if stuck else sa.false(),
                        )
                    )
                    .order_by(SandboxEvent.created_at)
                    .limit(200)
                )
                .scalars()
                .all()
            )
        sent = 0
        for event_id in undelivered:
            if self.deliver(event_id):
                sent += 1
        return sent
