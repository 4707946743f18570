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

from typing import Any

from kombu.entity import Exchange, Queue
from kombu.transport.base import StdChannel

EXCHANGE = "ecom.events"

# queue -> routing keys it receives. Read this table to see who reacts to what. Each key has a handler
# in the service's handlers.py, and nothing more is bound (libs/common/tests/test_topology_drift.py):
# a key bound without a handler is delivered only to be acknowledged and dropped.
SUBSCRIPTIONS: dict[str, list[str]] = {
    "inventory.events": [
        "catalog.ProductListed",  # create stock items for new SKUs, update thresholds
        "catalog.PriceChanged",
        "orders.OrderPaid",  # reserve all lines or none
        "orders.OrderCancelled",  # release what was reserved
        "logistics.ShipmentDispatched",  # deduct the reservation
        "aftersales.ReturnReceived",  # resellable returns go back into stock
        "marketing.PromotionPeriodDeclared",  # the periods the pre-promotion cover report is for
        "marketing.PromotionPeriodCancelled",
    ],
    "orders.events": [
        "billing.PaymentSucceeded",  # -> paid, OrderPaid
        "billing.PaymentFailed",
        "billing.RefundSucceeded",
        "inventory.StockReserved",  # -> audit rules
        "inventory.StockShortage",  # -> awaiting_stock or cancelled, by policy
        "logistics.ShipmentDispatched",  # -> shipped
        "logistics.ShipmentDelivered",  # -> delivered
        "logistics.CarrierChanged",  # a failed pickup: the buyer's tracking number changes
        "aftersales.OrderCancelRequested",
    ],
    "billing.events": [
        "orders.OrderPlaced",  # what the buyer will owe
        "orders.OrderCancelled",  # refund what was paid
        "orders.OrderCompleted",  # schedule settlement T+7
        "aftersales.RefundApproved",  # refund to the original route
        "logistics.ShipmentDispatched",  # goods out, per SKU: 三流合一 reconciliation
        "aftersales.ReturnReceived",  # goods back, per SKU: 三流合一 reconciliation
    ],
    "logistics.events": [
        "orders.OrderReadyToShip",  # create the shipment
        "orders.OrderCancelled",  # cancel a shipment not yet dispatched
        "orders.AddressChanged",  # the new receiver on a shipment not yet dispatched (newest wins)
        "aftersales.ReshipRequested",  # replacement shipment of an exchange
        "marketing.GiftGranted",  # the gift on the order's pick list
        "marketing.PromotionPeriodDeclared",  # 48 h to dispatch orders paid in it
        "marketing.PromotionPeriodCancelled",
    ],
    "aftersales.events": [
        "orders.OrderCancelled",  # the order's requested cases are moot -> rejected
        "orders.OrderCompleted",  # the buyer is no longer a new customer of the shop (auto-approval)
        "billing.RefundSucceeded",  # -> case closed; the buyer is told (refund done)
        "billing.RefundFailed",
        "logistics.ShipmentDispatched",  # replacement shipped -> reshipped; 已发货 with the tracking number
        "logistics.ShipmentDelivered",
        # only buyer notifications (aftersales/notifications.py: at most one message per fact)
        "orders.OrderHeld",  # held for a vague address: the buyer confirms it
        "orders.PresalePromised",  # presale: when the order ships (预计N天内发货)
        "orders.AddressChanged",  # the new receiver address, before dispatch
        "logistics.ShipmentException",  # delivery exception: a new estimate follows
        "logistics.ShipmentStalled",
        "logistics.CarrierChanged",  # new carrier and tracking number
        "logistics.ArrivalEstimateChanged",  # a new estimated arrival
        "orders.OrderDelivered",  # review invitation 24 h later
        "marketing.CouponIssued",  # the coupon is in the buyer's account
        "billing.InvoiceIssued",  # the invoice's number and amount
        "billing.InvoiceRefused",  # why the request was refused (the buyer may ask again)
        "marketing.PromotionPeriodDeclared",  # 48 h refunds for returns received in it
        "marketing.PromotionPeriodCancelled",
    ],
    "catalog.events": [
        "inventory.LowStock",  # shown to ops on the product
    ],
    "marketing.events": [
        "orders.OrderPlaced",  # the quote's locks are kept until paid or cancelled
        "orders.OrderPaid",  # locked coupons used; member's paid orders
        "orders.OrderCancelled",  # locked coupons released, points returned
        "orders.OrderCompleted",  # points earned
        "billing.RefundSucceeded",  # points and campaign subsidy taken back in proportion
        "aftersales.CompensationCouponRequested",  # a complaint's compensation coupon, once per complaint
    ],
    # analytics projects facts and rollups from what happened (services/analytics/README.md).
    "analytics.events": [
        "orders.OrderPlaced",  # order + line facts
        "orders.OrderPaid",  # 支付金额, paying buyers, SKU sales
        "orders.OrderCancelled",
        "orders.OrderCompleted",
        "billing.PaymentSucceeded",  # the payment method
        "billing.RefundSucceeded",  # refunds on their day
        "logistics.ShipmentCreated",  # shipment facts: fulfilment
        "logistics.ShipmentDispatched",
        "logistics.ShipmentDelivered",
        "logistics.ShipmentStalled",
        "aftersales.CaseRequested",  # case and complaint facts
        "aftersales.RefundApproved",
        "aftersales.CaseClosed",
        "aftersales.ComplaintFiled",
        "aftersales.ComplaintEscalated",
        "aftersales.ServiceClockBreached",  # SLA breaches
        "aftersales.OrderReviewed",  # NPS
    ],
}


def queues_of(service: str) -> list[str]:
    return [q for q in SUBSCRIPTIONS if q.split(".", 1)[0] == service]


def retry_queue(queue: str, tier: int) -> str:
    return f"{queue}.retry.{tier}"


def dlq(queue: str) -> str:
    return f"{queue}.dlq"


QUEUE_TYPES = ("classic", "quorum")
DEFAULT_DELIVERY_LIMIT = 20
# A dead-letter queue is read by operators (`ecom dlq list` returns what it reads to the queue, which
# a quorum queue counts as a delivery): its limit only guards against losing what it holds.
DLQ_DELIVERY_LIMIT = 1_000_000


class Topology:
    """Kombu entities for one bus namespace (`prefix` is empty outside tests).

    `queue_type="quorum"` (production: ECOM_QUEUE_TYPE=quorum) declares replicated quorum queues: a
    message redelivered more than `delivery_limit` times (crash loops, requeues) is dead-lettered
    to <queue>.dlq at-least-once instead of looping forever. The default, "classic", declares the
    queues exactly as before. A queue's type cannot change once declared: switching an existing
    broker means draining and deleting its queues first (deploy/README.md).
    """

    def __init__(
        self,
        prefix: str = "",
        retry_tiers: int = 3,
        queue_type: str = "classic",
        delivery_limit: int = DEFAULT_DELIVERY_LIMIT,
    ):
        if queue_type not in QUEUE_TYPES:
            raise ValueError(f"queue type {queue_type!r}; one of {', '.join(QUEUE_TYPES)}")
        if delivery_limit < 1:
            raise ValueError(f"delivery limit must be at least 1, not {delivery_limit}")
        self.prefix = prefix
        self.retry_tiers = retry_tiers
        self.queue_type = queue_type
        self.delivery_limit = delivery_limit
        self.exchange = Exchange(self.name(EXCHANGE), type="topic", durable=True)

    def name(self, plain: str) -> str:
        return f"{self.prefix}{plain}"

    def entities(self, queue: str) -> list[Queue]:
        """The work queue with its bindings, its retry tiers and its DLQ."""
        from kombu.entity import binding

        full = self.name(queue)
        dead = self.name(dlq(queue))
        work = Queue(
            full,
            bindings=[binding(self.exchange, routing_key=rk) for rk in SUBSCRIPTIONS[queue]],
            durable=True,
            queue_arguments=self._quorum(
                {
                    "x-delivery-limit": self.delivery_limit,
                    "x-dead-letter-exchange": "",
                    "x-dead-letter-routing-key": dead,
                }
            ),
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
                        **(self._quorum({}) or {}),
                    },
                )
            )
        out.append(
            Queue(
                dead,
                durable=True,
                queue_arguments=self._quorum({"x-delivery-limit": DLQ_DELIVERY_LIMIT}, dead_letters=False),
            )
        )
        return out

    def _quorum(self, arguments: dict[str, Any], dead_letters: bool = True) -> dict[str, Any] | None:
        """Quorum-queue arguments, or None (no arguments at all) for classic queues."""
        if self.queue_type != "quorum":
            return None
        out: dict[str, Any] = {"x-queue-type": "quorum", **arguments}
        if dead_letters:
            # at-least-once dead-lettering needs reject-publish: a full queue refuses new messages
            # (the publisher's confirm fails and it retries) rather than dropping the oldest.
            out["x-dead-letter-strategy"] = "at-least-once"
            out["x-overflow"] = "reject-publish"
        return out

    def declare(self, channel: StdChannel) -> None:
        # kombu annotates what an entity binds to as its virtual transports' Channel; a RabbitMQ
        # (pyamqp) channel, also a StdChannel, binds the same way.
        self.exchange(channel).declare()  # type: ignore[arg-type]
        for queue in SUBSCRIPTIONS:
            for entity in self.entities(queue):
                entity(channel).declare()  # type: ignore[arg-type]

    def all_queue_names(self) -> list[str]:
        return [e.name for q in SUBSCRIPTIONS for e in self.entities(q)]
