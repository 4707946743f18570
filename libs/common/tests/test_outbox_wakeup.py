"""The outbox wake-up pieces that need no server: the NOTIFY channel's name, the selectable
in-process signal, and SQLite (no NOTIFY: the relay there waits on the in-process signal)."""

import select

from ecom_common.events import make_event
from ecom_common.outbox import OutboxSignal, RelayWakeup, outbox_channel
from ecom_testkit import recorded_events, unit_config


def readable(fd) -> bool:
    return bool(select.select([fd], [], [], 0)[0])


def test_the_channel_is_a_safe_identifier_per_service_and_bus_namespace(tmp_path):
    plain = outbox_channel(unit_config("orders", tmp_path))
    assert plain == "ecom_outbox_orders"
    spaced = outbox_channel(unit_config("orders", tmp_path, bus_prefix="t1a2B3.x-y."))
    assert spaced == "ecom_outbox_orders_t1a2b3_x_y"
    other = outbox_channel(unit_config("billing", tmp_path, bus_prefix="t1a2B3.x-y."))
    assert other != spaced
    long_a = outbox_channel(unit_config("aftersales", tmp_path, bus_prefix="p" * 80 + "a."))
    long_b = outbox_channel(unit_config("aftersales", tmp_path, bus_prefix="p" * 80 + "b."))
    assert len(long_a) <= 63 and len(long_b) <= 63 and long_a != long_b
    for name in (plain, spaced, long_a):
        assert name.replace("_", "").isalnum() and name == name.lower()


def test_the_signal_is_an_event_whose_pipe_is_readable_while_it_is_set():
    signal = OutboxSignal()
    signal.set()  # set before anyone selects: the pipe starts readable
    assert readable(signal)
    signal.clear()
    assert not readable(signal) and not signal.is_set()
    for _ in range(100_000 // 4096 + 2):  # many sets never block on a full pipe
        signal.set()
    assert readable(signal) and signal.wait(0)
    signal.clear()
    assert not readable(signal)
    signal.close()
    signal.set()  # after close: still an Event
    assert signal.is_set()


def test_on_sqlite_a_commit_sends_no_notify_and_wakes_the_relay_in_process(db):
    assert not db.notifies
    wakeup = RelayWakeup(db, interval=3600)
    wakeup.listen()
    assert not wakeup.listening
    with db.uow() as uow:
        uow.record(
            make_event(
                "catalog.ProductListed",
                {"product_id": "P1", "shop_id": "S1", "skus": [{"sku_code": "A", "list_price_fen": 1}]},
            )
        )
        uow.commit()
    wakeup.wait()  # returns at once: the commit set the signal (else an hour)
    assert not db.outbox_signal.is_set()
    assert len(recorded_events(db)) == 1
