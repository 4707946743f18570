import pytest
from marshmallow import ValidationError

from ecom_common import context
from ecom_common.events import REGISTRY, Envelope, UnknownEvent, make_event
from ecom_common.topology import SUBSCRIPTIONS, Topology


def test_make_event_validates_payload_against_registry():
    with pytest.raises(ValidationError) as err:
        make_event("orders.OrderPaid", {"order_id": "O1"})
    assert "shop_id" in err.value.messages["payload"]


def test_unknown_event_type_is_refused():
    with pytest.raises(UnknownEvent):
        make_event("orders.OrderTeleported", {})


def test_envelope_round_trip_and_routing_key():
    env = make_event("catalog.ProductRestored", {"product_id": "P1", "shop_id": "S1"})
    again = Envelope.from_dict(__import__("json").loads(env.to_json()))
    assert again == env
    assert env.routing_key == "catalog.ProductRestored"
    assert env.producer == "catalog" and env.type == "ProductRestored" and env.version == 1


def test_events_carry_correlation_and_causation_of_the_message_in_hand():
    with context.bound("corr-1", "evt-0"):
        env = make_event("catalog.ProductRestored", {"product_id": "P1", "shop_id": "S1"})
    assert env.correlation_id == "corr-1"
    assert env.causation_id == "evt-0"


def test_every_subscribed_routing_key_is_a_registered_event():
    for queue, keys in SUBSCRIPTIONS.items():
        for key in keys:
            assert key in REGISTRY, f"{queue} subscribes to unregistered {key}"
            assert key.split(".")[0] != queue.split(".")[0], f"{queue} consumes its own event {key}"


def test_topology_names_match_contract_and_namespace():
    t = Topology()
    assert t.exchange.name == "ecom.events" and t.exchange.type == "topic" and t.exchange.durable
    names = t.all_queue_names()
    assert "inventory.events" in names and "inventory.events.dlq" in names and "inventory.events.retry.1" in names
    assert Topology("t1.").exchange.name == "t1.ecom.events"


def test_envelope_from_dict_rejects_non_envelopes():
    with pytest.raises(ValueError):
        Envelope.from_dict({"hello": "world"})
