"""The opt-in quorum queue topology (ECOM_QUEUE_TYPE=quorum) and the unchanged classic default."""

import pytest

from ecom_common import bus
from ecom_common.topology import DLQ_DELIVERY_LIMIT, SUBSCRIPTIONS, Topology
from ecom_testkit import unit_config


def _by_name(topology: Topology, queue: str) -> dict:
    return {q.name: q for q in topology.entities(queue)}


def test_classic_is_the_default_and_declares_what_it_always_did():
    queues = _by_name(Topology("p."), "inventory.events")
    assert set(queues) == {
        "p.inventory.events",
        "p.inventory.events.retry.1",
        "p.inventory.events.retry.2",
        "p.inventory.events.retry.3",
        "p.inventory.events.dlq",
    }
    assert not queues["p.inventory.events"].queue_arguments
    assert not queues["p.inventory.events.dlq"].queue_arguments
    assert queues["p.inventory.events.retry.1"].queue_arguments == {
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": "p.inventory.events",
    }


def test_quorum_queues_carry_a_delivery_limit_and_dead_letter_at_least_once():
    topology = Topology("p.", retry_tiers=2, queue_type="quorum", delivery_limit=7)
    for plain in SUBSCRIPTIONS:
        queues = _by_name(topology, plain)
        work = queues[f"p.{plain}"].queue_arguments
        assert work == {
            "x-queue-type": "quorum",
            "x-delivery-limit": 7,
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": f"p.{plain}.dlq",
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
        }
        for tier in (1, 2):
            retry = queues[f"p.{plain}.retry.{tier}"].queue_arguments
            assert retry["x-queue-type"] == "quorum"
            assert retry["x-dead-letter-routing-key"] == f"p.{plain}"
            assert retry["x-dead-letter-strategy"] == "at-least-once"
            assert retry["x-overflow"] == "reject-publish"
        dead = queues[f"p.{plain}.dlq"].queue_arguments
        assert dead == {"x-queue-type": "quorum", "x-delivery-limit": DLQ_DELIVERY_LIMIT}
        assert all(q.durable for q in queues.values())


@pytest.mark.parametrize("kwargs", [{"queue_type": "stream"}, {"queue_type": "quorum", "delivery_limit": 0}])
def test_bad_queue_settings_are_refused(kwargs):
    with pytest.raises(ValueError):
        Topology(**kwargs)


def test_the_bus_reads_the_queue_type_from_the_environment_settings(tmp_path):
    default = bus.topology_for(unit_config("orders", tmp_path))
    assert default.queue_type == "classic"
    config = unit_config("orders", tmp_path, settings={"ECOM_QUEUE_TYPE": "quorum", "ECOM_QUEUE_DELIVERY_LIMIT": "5"})
    topology = bus.topology_for(config)
    assert (topology.queue_type, topology.delivery_limit) == ("quorum", 5)
    work = _by_name(topology, "orders.events")["orders.events"]
    assert work.queue_arguments["x-delivery-limit"] == 5
