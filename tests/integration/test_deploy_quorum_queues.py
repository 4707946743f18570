"""The production queue topology (ECOM_QUEUE_TYPE=quorum) on the real RabbitMQ: the broker accepts
the declared arguments, a message redelivered past the delivery limit lands in <queue>.dlq (not
dropped), and a retry tier still expires back into its work queue."""

import time
import uuid

import pytest
from kombu import Connection, Producer, Queue

from ecom_common.topology import Topology
from ecom_testkit import amqp_url, delete_bus_namespace

pytestmark = pytest.mark.integration


@pytest.fixture
def quorum():
    prefix = f"t{uuid.uuid4().hex[:10]}."
    topology = Topology(prefix, retry_tiers=1, queue_type="quorum", delivery_limit=2)
    with Connection(amqp_url()) as conn:
        topology.declare(conn.channel())
        # Declaring it again (as every process does on start) must not conflict.
        topology.declare(conn.channel())
    yield topology
    delete_bus_namespace(amqp_url(), prefix)


def _get(conn, name, timeout=10.0):
    queue = Queue(name, no_declare=True)(conn.channel())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = queue.get(no_ack=False)
        if message is not None:
            return message
        time.sleep(0.05)
    return None


def test_redelivered_past_the_limit_goes_to_the_dlq(quorum):
    work, dead = quorum.name("inventory.events"), quorum.name("inventory.events.dlq")
    with Connection(amqp_url(), transport_options={"confirm_publish": True}) as conn:
        producer = Producer(conn.channel())
        producer.publish(
            '{"poison": true}', exchange="", routing_key=work, delivery_mode=2, content_type="application/json"
        )
        # Delivered and returned (as when a consumer crashes with it in hand) up to the limit...
        for _ in range(3):
            message = _get(conn, work)
            assert message is not None
            message.requeue()
        # ...then the broker dead-letters it instead of delivering it again.
        assert _get(conn, work, timeout=1.0) is None
        message = _get(conn, dead)
        assert message is not None and message.body in (b'{"poison": true}', '{"poison": true}')
        message.ack()


def test_a_retry_tier_expires_back_to_its_work_queue(quorum):
    work, retry = quorum.name("orders.events"), quorum.name("orders.events.retry.1")
    with Connection(amqp_url(), transport_options={"confirm_publish": True}) as conn:
        Producer(conn.channel()).publish(
            '{"again": 1}',
            exchange="",
            routing_key=retry,
            delivery_mode=2,
            content_type="application/json",
            expiration=0.2,
        )
        message = _get(conn, work)
        assert message is not None
        message.ack()
