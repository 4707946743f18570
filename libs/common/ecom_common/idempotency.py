"""The Idempotency-Key of creating POSTs: its table, its statements and the `idempotent` decorator.

A keyed request claims its key (a row in `idempotency_keys`) before the view runs. The view's own
business transaction marks the key committed (`KeyClaim`, a participant of the unit of work); a
successful answer is then stored and replayed for a repeat with the same body. A failed request
releases its key, unless its change was committed; a release the database was away for is kept and
done at this process's next keyed request.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import logging
import threading
import weakref
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import Response, make_response, request
from sqlalchemy.orm import Session

from .auth import current_principal
from .bodies import View
from .clock import aware
from .db import Database, is_unique_violation
from .errors import BadRequest, Conflict
from .http import current_db
from .tables import UtcDateTime, common_metadata

log = logging.getLogger("ecom.idempotency")

idempotency_keys = sa.Table(
    "idempotency_keys",
    common_metadata,
    sa.Column("scope", sa.String(300), primary_key=True),
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("status_code", sa.Integer, nullable=True),
    sa.Column("response_body", sa.Text, nullable=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    # Set inside the request's own business transaction: once it is set, the request's changes are
    # committed and a retry must never run it again, even if its response was never stored.
    sa.Column("committed_at", UtcDateTime, nullable=True),
)

IN_PROGRESS_TIMEOUT = timedelta(seconds=60)

# Built once: every keyed POST runs these (building a statement costs more than executing it).
_KEY = (idempotency_keys.c.scope == sa.bindparam("b_scope")) & (idempotency_keys.c.key == sa.bindparam("b_key"))
CLAIM_KEY = idempotency_keys.insert()
STORE_ANSWER = (
    idempotency_keys.update()
    .where(_KEY)
    .values(status_code=sa.bindparam("b_status_code"), response_body=sa.bindparam("b_response_body"))
)
RELEASE_KEY = idempotency_keys.delete().where(
    _KEY, idempotency_keys.c.status_code.is_(None), idempotency_keys.c.committed_at.is_(None)
)
# Run by the transaction that makes the request's change (KeyClaim).
MARK_KEY_COMMITTED = (
    idempotency_keys.update()
    .where(_KEY, idempotency_keys.c.committed_at.is_(None))
    .values(committed_at=sa.bindparam("b_now", type_=idempotency_keys.c.committed_at.type))
)


class KeyClaim:
    """The Idempotency-Key of the request in hand, as a participant of the units of work its view
    opens (`Database.enlisting`): each marks the key committed in its own transaction (the first one
    does; the statement does nothing once it is set)."""

    def __init__(self, db: Database, scope: str, key: str) -> None:
        self.db = db
        self.scope = scope
        self.key = key

    def before_commit(self, session: Session) -> None:
        session.execute(
            MARK_KEY_COMMITTED, {"b_scope": self.scope, "b_key": self.key, "b_now": self.db.config.clock.now()}
        )

    def after_commit(self) -> None:
        pass


def idempotent(required: bool = False) -> Callable[[View], View]:
    """Replay the first response for a repeated Idempotency-Key with the same body; 409 for the same
    key with another body or while the first request is still running.

    Successful (2xx/3xx) responses are stored; a failed request releases its key so that the client
    can fix the request and retry with it. Keys are scoped by caller and path.

    The key is marked committed inside the request's own business transaction: the view runs with a
    `KeyClaim` enlisted on the service's database (`Database.enlisting`), so every unit of work the
    view opens commits it. A crash between that commit and storing the response can never let a
    retry run the request twice: the retry is told it was processed (409) instead.
    """

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            key = request.headers.get("Idempotency-Key")
            if not key:
                if required:
                    raise BadRequest(
                        "this request needs an Idempotency-Key header", {"Idempotency-Key": ["Missing header."]}
                    )
                return view(*args, **kwargs)
            if len(key) > 200:
                raise BadRequest("Idempotency-Key is too long", {"Idempotency-Key": ["At most 200 characters."]})
            principal = current_principal()
            scope = f"{principal.sub}:{request.method}:{request.path}"[:300]
            digest = hashlib.sha256(request.get_data()).hexdigest()
            db = current_db()
            replay = _claim_key(db, scope, key, digest)
            if replay is not None:
                return replay
            try:
                with db.enlisting(KeyClaim(db, scope, key)):
                    resp = make_response(view(*args, **kwargs))
            except BaseException:
                _release_key(db, scope, key)
                raise
            if resp.status_code < 400:
                try:
                    with db.engine.begin() as conn:
                        conn.execute(
                            STORE_ANSWER,
                            {
                                "b_scope": scope,
                                "b_key": key,
                                "b_status_code": resp.status_code,
                                "b_response_body": resp.get_data(as_text=True),
                            },
                        )
                except sa.exc.DBAPIError as exc:
                    # The request's change is committed (and its key marked so in that transaction):
                    # the client gets its answer; a repeat of the key is refused as already processed.
                    log.warning("could not store the answer for Idempotency-Key %s: %r", key, exc)
            else:
                _release_key(db, scope, key)
            return resp

        # Document the header on the operation (flask-smorest's manual doc, as @blp.doc would; these
        # views take no query arguments, whose parameters a manual list would replace).
        apidoc = copy.deepcopy(getattr(wrapper, "_apidoc", {}))
        manual = apidoc.setdefault("manual_doc", {})
        manual["parameters"] = [
            *manual.get("parameters", []),
            {
                "in": "header",
                "name": "Idempotency-Key",
                "required": required,
                # an empty key is no key: refused where one is required, ignored elsewhere
                "schema": {"type": "string", "minLength": 1 if required else 0, "maxLength": 200},
                "description": "repeats answer as the first request did (same body) or 409 (another body, or "
                "still running)" + ("; required: without it, 400" if required else ""),
            },
        ]
        wrapper._apidoc = apidoc  # type: ignore[attr-defined]  # where flask-smorest reads a view's doc
        return wrapper

    return decorate


def _claim_key(db: Database, scope: str, key: str, digest: str) -> Response | None:
    _release_kept_keys(db)
    now = db.config.clock.now()
    try:
        with db.engine.begin() as conn:
            conn.execute(CLAIM_KEY, {"scope": scope, "key": key, "request_hash": digest, "created_at": now})
        return None
    except sa.exc.IntegrityError as exc:
        if not is_unique_violation(exc):
            raise
    with db.engine.begin() as conn:
        row = conn.execute(
            sa.select(idempotency_keys).where(idempotency_keys.c.scope == scope, idempotency_keys.c.key == key)
        ).first()
        if row is None:  # released meanwhile: take it
            conn.execute(idempotency_keys.insert().values(scope=scope, key=key, request_hash=digest, created_at=now))
            return None
        if row.request_hash != digest:
            raise Conflict(
                "this Idempotency-Key was used with a different request body",
                {"Idempotency-Key": ["Reused with a different body."]},
            )
        if row.status_code is None:
            if row.committed_at is not None:
                raise Conflict(
                    "a request with this Idempotency-Key was already processed, but its response "
                    "was not recorded; look the resource up instead of retrying",
                    {"Idempotency-Key": ["Already processed."]},
                )
            if aware(row.created_at) > now - IN_PROGRESS_TIMEOUT:
                raise Conflict(
                    "a request with this Idempotency-Key is still in progress",
                    {"Idempotency-Key": ["Request in progress."]},
                )
            conn.execute(
                idempotency_keys.update()
                .where(idempotency_keys.c.scope == scope, idempotency_keys.c.key == key)
                .values(created_at=now)
            )
            return None
    resp = make_response(row.response_body or "", row.status_code)
    resp.mimetype = "application/json"
    resp.headers["Idempotent-Replayed"] = "true"
    return resp


# Keys a failed request could not release because the database was away, per database; released
# by this process's next keyed request (a client retrying after a 503 usually comes back to it).
_UNRELEASED: weakref.WeakKeyDictionary[Database, set[tuple[str, str]]] = weakref.WeakKeyDictionary()
_UNRELEASED_LOCK = threading.Lock()


def _release_key(db: Database, scope: str, key: str) -> None:
    """Let the client retry a request that failed, unless its changes were committed (then a retry
    must not run it again). With the database away the release is kept and tried again at this
    process's next keyed request, so that a client retrying with the same key once the database is
    back is not told "in progress" until the key expires."""
    try:
        with db.engine.begin() as conn:
            conn.execute(RELEASE_KEY, {"b_scope": scope, "b_key": key})
    except sa.exc.DBAPIError:
        with _UNRELEASED_LOCK:
            _UNRELEASED.setdefault(db, set()).add((scope, key))
        log.warning(
            "could not release Idempotency-Key %s; released at this process's next keyed request "
            "once the database is back, else it expires in %s",
            key,
            IN_PROGRESS_TIMEOUT,
        )


def _release_kept_keys(db: Database) -> None:
    """Release the keys kept by `_release_key` (best effort: still away, they stay kept). Only the
    keys of requests that failed with nothing committed are deleted (RELEASE_KEY's condition)."""
    with _UNRELEASED_LOCK:
        kept = list(_UNRELEASED.get(db, ()))
    if not kept:
        return
    try:
        with db.engine.begin() as conn:
            for scope, key in kept:
                conn.execute(RELEASE_KEY, {"b_scope": scope, "b_key": key})
    except sa.exc.DBAPIError:
        return
    with _UNRELEASED_LOCK:
        _UNRELEASED.get(db, set()).difference_update(kept)
    log.info("released %d Idempotency-Key(s) kept while the database was away", len(kept))
