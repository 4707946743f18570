"""The relay's wake-up on PostgreSQL: a commit that recorded events NOTIFYs the service's outbox
channel (in the transaction: nothing for a rollback), and a relay LISTENing on it publishes at once
even when the commit came from another engine (another process: a web process, `ecom job`); a commit
in the relay's own process wakes it by the in-process signal and sends no NOTIFY. No
timing is asserted: the relays here poll once an hour, so only the notification can have woken them;
without LISTEN (it fails, or its connection is lost) the relay falls back to polling."""

from __future__ import annotations

import threading

import psycopg
import pytest
import sqlalchemy as sa

from ecom_common import outbox as outbox_module
from ecom_common.db import Database
from ecom_common.events import make_event
from ecom_common.outbox import Relay, outbox
from ecom_testkit import Platform, eventually

pytestmark = pytest.mark.integration

AN_HOUR = 3600.0


def listed(i):
    return make_event(
        "catalog.ProductListed",
        {"product_id": f"P{i}", "shop_id": "S1", "skus": [{"sku_code": f"SKU-{i}", "list_price_fen": 100}]},
    )


def record(db, *events, commit=True):
    with db.uow() as uow:
        for e in events:
            uow.record(e)
        if commit:
            uow.commit()


def published(db, event) -> bool:
    with db.engine.connect() as conn:
        return (
            conn.execute(sa.select(outbox.c.published_at).where(outbox.c.event_id == event.event_id)).scalar_one()
            is not None
        )


class RunningRelay:
    """A real Relay.run() in a thread, on a Database (engine) of its own."""

    def __init__(self, config, poll: float):
        self.db = Database(config.with_(relay_poll_interval=poll))
        self.stop = threading.Event()
        self.relay = Relay(self.db, self.stop)
        self.thread = threading.Thread(target=self.relay.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.db.outbox_signal.set()
        self.thread.join(10)
        self.db.dispose()


def listener_pids(config) -> list[int]:
    from ecom_common.outbox import outbox_channel

    engine = sa.create_engine(config.database_url)
    with engine.connect() as conn:
        pids = (
            conn.execute(
                sa.text("SELECT pid FROM pg_stat_activity WHERE query = :q"), {"q": f"LISTEN {outbox_channel(config)}"}
            )
            .scalars()
            .all()
        )
    engine.dispose()
    return list(pids)


def test_a_commit_on_another_engine_wakes_a_relay_that_polls_once_an_hour():
    with Platform(["catalog"], workers=False) as p:
        config = p["catalog"].config
        web = Database(config)  # e.g. a gunicorn worker: its own engine, its own in-process signal
        try:
            first, second = listed(1), listed(2)
            record(web, first)
            with RunningRelay(config, poll=AN_HOUR) as r:
                eventually(lambda: published(web, first), message="the first pass")
                assert r.relay.wakeup.listening
                # The relay now waits (an hour at most); only the NOTIFY of this commit can wake it.
                record(web, second)
                eventually(lambda: published(web, second), timeout=30, message="published after the NOTIFY")
        finally:
            web.dispose()


def test_notify_is_sent_once_per_committed_unit_of_work_with_events_and_never_for_a_rollback():
    with Platform(["catalog"], workers=False) as p:
        db = p["catalog"].db
        url = p["catalog"].config.database_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(url, autocommit=True) as listener:
            listener.execute(f"LISTEN {db.outbox_channel}")
            listener.execute("LISTEN test_sentinel")
            record(db, listed(1), commit=False)  # rolled back
            with db.uow() as uow:  # committed, no event
                uow.session.execute(sa.text("SELECT 1"))
                uow.commit()
            record(db, listed(2), listed(3))  # committed, two events: one NOTIFY
            with db.engine.begin() as conn:  # delivered after everything above
                conn.execute(sa.text("NOTIFY test_sentinel"))
            got = []
            for n in listener.notifies(timeout=30):
                got.append(n.channel)
                if n.channel == "test_sentinel":
                    break
        assert got == [db.outbox_channel, "test_sentinel"]


def test_a_commit_in_the_relays_own_process_wakes_it_by_the_signal_and_sends_no_notify():
    # A worker's consumers commit on the relay's own Database: that relay publishes at once, woken by
    # the in-process signal; a NOTIFY (a round trip per consumer transaction) would wake no one else
    # that needs it. After the relay stops, commits NOTIFY again for the relays of other processes.
    with Platform(["catalog"], workers=False) as p:
        config = p["catalog"].config
        url = config.database_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(url, autocommit=True) as listener, RunningRelay(config, poll=AN_HOUR) as r:
            db = r.db
            listener.execute(f"LISTEN {db.outbox_channel}")
            listener.execute("LISTEN test_sentinel")
            eventually(lambda: db.relays_in_process == 1 and r.relay.wakeup.listening)
            first = listed(1)
            record(db, first)
            eventually(lambda: published(db, first), timeout=30, message="published after the signal")
            r.stop.set()
            db.outbox_signal.set()  # as Worker.request_stop does
            r.thread.join(10)
            assert db.relays_in_process == 0
            record(db, listed(2))  # no relay here any more: one NOTIFY
            with db.engine.begin() as conn:
                conn.execute(sa.text("NOTIFY test_sentinel"))
            got = []
            for n in listener.notifies(timeout=30):
                got.append(n.channel)
                if n.channel == "test_sentinel":
                    break
        assert got == [db.outbox_channel, "test_sentinel"]


def test_the_relay_polls_when_listen_cannot_be_set_up(monkeypatch):
    def refuse(db):
        raise psycopg.OperationalError("LISTEN refused (test)")

    monkeypatch.setattr(outbox_module, "OutboxListener", refuse)
    with Platform(["catalog"], workers=False) as p:
        config = p["catalog"].config
        web = Database(config)
        try:
            event = listed(1)
            with RunningRelay(config, poll=0.1) as r:
                eventually(lambda: r.relay.wakeup is not None)
                record(web, event)
                eventually(lambda: published(web, event), message="published by polling")
                assert not r.relay.wakeup.listening
        finally:
            web.dispose()


def test_the_relay_polls_when_its_listen_connection_is_lost_and_listens_again(monkeypatch):
    monkeypatch.setattr(outbox_module.RelayWakeup, "RETRY_LISTEN", 0.5)
    with Platform(["catalog"], workers=False) as p:
        config = p["catalog"].config
        web = Database(config)
        try:
            before, after = listed(1), listed(2)
            with RunningRelay(config, poll=0.2):
                pids = eventually(lambda: listener_pids(config), message="the relay's LISTEN connection")
                with web.engine.connect() as conn:
                    conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pids[0]})
                record(web, before)
                eventually(lambda: published(web, before), message="published after the LISTEN connection died")
                # it LISTENs again on a new connection
                eventually(lambda: (new := listener_pids(config)) and new != pids, message="LISTEN again")
                record(web, after)
                eventually(lambda: published(web, after))
        finally:
            web.dispose()
