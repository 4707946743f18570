"""The drift check: what each service's worker handles is exactly what ecom_common/topology.py routes
to its queues.

A routing key bound to a queue without a handler is consumed and acknowledged unhandled (the
consumer's `Outcome.IGNORED`): every such event is delivered, dropped and paid for. A handler for a
key that is not bound never runs. Both are a disagreement between the topology table and a service's
handlers.py (its `SUBSCRIPTIONS`, which app.py's ServiceDef hands to the worker).
"""

import pytest

from ecom_common import service
from ecom_common.config import SERVICES
from ecom_common.topology import SUBSCRIPTIONS, queues_of


def drift(name: str) -> dict[str, dict[str, list[str]]]:
    """Per queue of the service, what is bound but unhandled and what is handled but unbound."""
    handled: dict[str, set[str]] = {}
    for subscription in service.load(name).subscriptions:
        assert subscription.queue not in handled, f"{name} consumes {subscription.queue} twice"
        handled[subscription.queue] = set(subscription.handlers)
    out = {}
    for queue in sorted(set(handled) | set(queues_of(name))):
        bound, handlers = set(SUBSCRIPTIONS.get(queue, [])), handled.get(queue, set())
        if bound != handlers:
            out[queue] = {
                "bound, no handler (consumed and dropped)": sorted(bound - handlers),
                "handler, not bound (never runs)": sorted(handlers - bound),
            }
    return out


@pytest.mark.parametrize("name", SERVICES)
def test_a_services_handlers_are_exactly_its_queues_subscriptions(name):
    assert drift(name) == {}


def test_every_queue_of_the_topology_belongs_to_a_service():
    # A queue no service consumes would fill up with every event bound to it.
    assert [q for q in SUBSCRIPTIONS if q.split(".", 1)[0] not in SERVICES] == []


def test_a_routing_key_is_bound_once_per_queue():
    assert {q: keys for q, keys in SUBSCRIPTIONS.items() if len(keys) != len(set(keys))} == {}
