"""The bus topology, declared in one place.

    exchange  ecom.events (topic, durable)
    queue     <consumer>.<purpose>            bound to the routing keys below
    queue     <consumer>.<purpose>.retry.N    back-off tier N; expired messages go back to the queue
    queue     <consumer>.<purpose>.dlq        what failed every retry, with the error in its headers

Every process declares *all* of it before it publishes or consumes: RabbitMQ then never drops an
event published before its consumer first started, and the embedded bus (kombu's sqla transport,
whose exchange bindings live in each process's memory) routes correctly in every process.
"""
from __future__ import annotations

from kombu import Exchange, Queue

EXCHANGE = "ecom.events"

# queue -> routing keys it receives. Read this table to see who reacts to what.
SUBSCRIPTIONS: dict[str, list[str]] = {
    "inventory.events": [
        "catalog.ProductListed",        # create stock items for new SKUs, update thresholds
        "catalog.PriceChanged",
        "orders.OrderPaid",             # reserve all lines or none
        "orders.OrderCancelled",        # release what was reserved
        "logistics.ShipmentDispatched",  # deduct the reservation
        "aftersales.ReturnReceived",    # resellable returns go back into stock
    ],
    "orders.events": [
        "billing.PaymentSucceeded",     # -> paid, OrderPaid
        "billing.PaymentFailed",
        "billing.RefundSucceeded",
        "inventory.StockReserved",      # -> audit rules
        "inventory.StockShortage",      # -> awaiting_stock or cancelled, by policy
        "logistics.ShipmentDispatched",  # -> shipped
        "logistics.ShipmentDelivered",  # -> delivered
        "aftersales.OrderCancelRequested",
    ],
    "billing.events": [
        "orders.OrderPlaced",           # what the buyer will owe
        "orders.OrderCancelled",        # refund what was paid
        "orders.OrderCompleted",        # schedule settlement T+7
        "aftersales.RefundApproved",    # refund to the original route
    ],
    "logistics.events": [
        "orders.OrderReadyToShip",      # create the shipment
        "orders.OrderCancelled",        # cancel a shipment not yet dispatched
        "aftersales.ReshipRequested",   # replacement shipment of an exchange
    ],
    "aftersales.events": [
        "orders.OrderDelivered",
        "orders.OrderCompleted",
        "orders.OrderCancelled",
        "billing.RefundSucceeded",      # -> case closed
        "billing.RefundFailed",
        "logistics.ShipmentDispatched",  # replacement shipped -> reshipped
        "logistics.ShipmentDelivered",
    ],
    "catalog.events": [
        "inventory.LowStock",           # shown to ops on the product
    ],
}


def queues_of(service: str) -> list[str]:
    return [q for q in SUBSCRIPTIONS if q.split(".", 1)[0] == service]


def retry_queue(queue: str, tier: int) -> str:
    return f"{queue}.retry.{tier}"


def dlq(queue: str) -> str:
    return f"{queue}.dlq"


class Topology:
    """Kombu entities for one bus namespace (`prefix` is empty outside tests)."""

    def __init__(self, prefix: str = "", retry_tiers: int = 3):
        self.prefix = prefix
        self.retry_tiers = retry_tiers
        self.exchange = Exchange(self.name(EXCHANGE), type="topic", durable=True)

    def name(self, plain: str) -> str:
        return f"{self.prefix}{plain}"

    def entities(self, queue: str) -> list[Queue]:
        """The work queue with its bindings, its retry tiers and its DLQ."""
        from kombu import binding

        full = self.name(queue)
        work = Queue(
            full,
            bindings=[binding(self.exchange, routing_key=rk) for rk in SUBSCRIPTIONS[queue]],
            durable=True,
        )
        out = [work]
        for tier in range(1, self.retry_tiers + 1):
            # No queue TTL: each retry carries its delay as per-message expiration, so changing the
            # back-off never conflicts with an already declared queue. On RabbitMQ an expired message
            # is dead-lettered back to the work queue through the default exchange; on the embedded
            # bus the worker's retry forwarder does that.
            out.append(
                Queue(
                    self.name(retry_queue(queue, tier)),
                    durable=True,
                    queue_arguments={
                        "x-dead-letter-exchange": "",
                        "x-dead-letter-routing-key": full,
                    },
                )
            )
        out.append(Queue(self.name(dlq(queue)), durable=True))
        return out

    def declare(self, channel) -> None:
        self.exchange(channel).declare()
        for queue in SUBSCRIPTIONS:
            for entity in self.entities(queue):
                entity(channel).declare()

    def all_queue_names(self) -> list[str]:
        return [e.name for q in SUBSCRIPTIONS for e in self.entities(q)]
