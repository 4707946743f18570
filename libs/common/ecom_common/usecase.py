"""The context every use case runs in: `verb(ctx, thing, ...)` in each service's operations.py.

A `Ctx` is the open unit of work, who acts, the time of the transaction and the service's settings,
plus what the caller may see (`scope`: None for the service itself, i.e. a handler or a job). The
code that opens the unit of work builds the context and commits; operations never commit:

    # a view (`use_case` below): commits when the block ends without an exception
    with use_case(Settings) as ctx:
        return OrderOut().dump(operations.cancel(ctx, order_id, reason=body["reason"]))

    # a handler: the consumer opened the unit of work and commits it with the inbox row
    def on_payment_succeeded(uow, event):
        operations.apply_payment(for_event(uow, event, Settings), event.payload["order_id"], ...)

    # a job
    with for_job(db, Settings) as ctx:
        operations.close_unpaid(ctx)

Tenancy stays one rule (ecom_common.auth): `ctx.require_visible(shop_id, buyer_id)` answers 404
for another tenant's thing exactly as the views' `not_found_unless(visible(...))` does.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Generic, TypeVar

from .auth import Scope
from .errors import NotFound
from .settings import ServiceSettings, settings_of

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from .db import Database, UnitOfWork
    from .events import Envelope

S = TypeVar("S", bound=ServiceSettings)


@dataclass(frozen=True)
class Actor:
    """Who acts: a user's id (`sub`) with the roles they act with, a producing service for an
    event, or "system" for the service's own jobs. Written as `by` on timelines."""

    id: str
    roles: tuple[str, ...] = ()

    def has(self, *roles: str) -> bool:
        return any(r in self.roles for r in roles)


SYSTEM = Actor("system")


@dataclass(frozen=True)
class Ctx(Generic[S]):
    uow: UnitOfWork
    actor: Actor
    settings: S
    # What the caller may see; None: the service itself (a handler, a job, a peer service).
    scope: Scope | None = None
    now: datetime = field(default=None)  # type: ignore[assignment]  # set from the unit of work

    def __post_init__(self) -> None:
        if self.now is None:
            object.__setattr__(self, "now", self.uow.now)

    @property
    def session(self) -> Session:
        return self.uow.session  # checks the unit of work is open

    def record(self, event: Envelope) -> None:
        self.uow.record(event)

    def acting_as(self, actor: Actor) -> Ctx[S]:
        return replace(self, actor=actor)

    def visible(self, shop_id: str | None, buyer_id: str | None = None) -> bool:
        return self.scope is None or self.scope.allows(shop_id, buyer_id)

    def require_visible(self, shop_id: str | None, buyer_id: str | None = None, what: str = "resource") -> None:
        """Another tenant's thing is indistinguishable from a missing one (404)."""
        if not self.visible(shop_id, buyer_id):
            raise NotFound(f"{what} not found")


def for_event(uow: UnitOfWork, event: Envelope, settings: type[S]) -> Ctx[S]:
    """The context of a handler: the consumer's open unit of work, acting as the producing service."""
    return Ctx(uow=uow, actor=Actor(event.producer), settings=settings_of(uow.db.config, settings))


@contextmanager
def for_job(db: Database, settings: type[S], actor: Actor = SYSTEM) -> Iterator[Ctx[S]]:
    """A unit of work for one step of a scheduled job, committed when the block ends cleanly."""
    with db.uow() as uow:
        yield Ctx(uow=uow, actor=actor, settings=settings_of(db.config, settings))
        uow.commit()


@contextmanager
def use_case(settings: type[S]) -> Iterator[Ctx[S]]:
    """The context of an HTTP view: the app's database, the caller as the actor, the scope of the
    roles this endpoint admits (`@requires`); committed when the block ends without an exception
    (so a view renders inside the block, before the COMMIT, and a failed COMMIT is still a 5xx)."""
    from .auth import current_principal, current_scope
    from .http import current_db

    principal = current_principal()
    db = current_db()
    with db.uow() as uow:
        yield Ctx(
            uow=uow,
            actor=Actor(principal.sub, tuple(sorted(principal.roles))),
            settings=settings_of(db.config, settings),
            scope=current_scope(),
        )
        uow.commit()
