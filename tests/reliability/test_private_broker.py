"""The private RabbitMQ node that the broker restart scenario stops and starts
(`ecom_common.testing.PrivateRabbitMQ`, fixture `private_broker`): it is a node apart from the
machine's shared one, a full stop and start keeps durable queues and persistent messages, and closing
it leaves nothing behind (no process, no directory, nothing listening on its port)."""
from __future__ import annotations

import socket
import uuid

import pytest
from kombu import Connection, Producer, Queue

from ecom_common.testing import amqp_url

pytestmark = [pytest.mark.integration, pytest.mark.reliability, pytest.mark.timeout(180)]


def _refused(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except OSError:
        return True


def test_a_private_node_restarts_apart_from_the_shared_broker_keeps_durable_messages_and_leaves_nothing(
        private_broker):
    rabbit = private_broker
    assert rabbit.port != 5672 and not rabbit.node.startswith("rabbit@")
    assert rabbit.ctl("status").returncode == 0

    durable, transient = f"t{uuid.uuid4().hex[:8]}.durable", f"t{uuid.uuid4().hex[:8]}.transient"
    with Connection(rabbit.url, transport_options={"confirm_publish": True}) as conn:  # counted once confirmed
        channel = conn.channel()
        Queue(durable, durable=True)(channel).declare()
        Queue(transient, durable=False, auto_delete=False)(channel).declare()
        producer = Producer(channel)
        for n in range(3):
            producer.publish({"n": n}, routing_key=durable, delivery_mode=2)
        producer.publish({"n": "transient"}, routing_key=durable, delivery_mode=1)
        assert channel.queue_declare(durable, passive=True).message_count == 4

    # The shared broker's connections are not the private node's: one held across the restart lives on.
    with Connection(amqp_url(), transport_options={"confirm_publish": True}) as shared:
        shared_channel = shared.channel()
        probe = f"t{uuid.uuid4().hex[:8]}.shared-probe"
        Queue(probe, exclusive=True)(shared_channel).declare()

        rabbit.stop()
        assert not rabbit.running and _refused(rabbit.port)
        rabbit.start()

        Producer(shared_channel).publish({"still": "here"}, routing_key=probe, delivery_mode=1)
        assert shared_channel.queue_declare(probe, passive=True).message_count == 1

    with Connection(rabbit.url) as conn:
        channel = conn.channel()
        # the persistent messages of the durable queue survived; the transient one and queue did not
        assert channel.queue_declare(durable, passive=True).message_count == 3
        bodies = []
        while (message := channel.basic_get(durable, no_ack=True)) is not None:
            bodies.append(message.body)
        assert sorted(bodies) == ['{"n": 0}', '{"n": 1}', '{"n": 2}']
        # a real restart: the node forgot its non-durable queue
        with pytest.raises(Exception, match="NOT_FOUND"):
            conn.channel().queue_declare(transient, passive=True)

    # What the fixture's teardown does (again, harmlessly): the node stopped, nothing of it left.
    process = rabbit.process
    rabbit.close()
    assert process.poll() is not None and not rabbit.running
    assert not rabbit.dir.exists() and _refused(rabbit.port)

