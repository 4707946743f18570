"""What every use case module shares: the context type and the reasons they agree on."""

from __future__ import annotations

from dataclasses import dataclass

from ecom_common.usecase import Ctx

from ..settings import Settings

MCtx = Ctx[Settings]
TIMEOUT = "timeout"  # the reason of a release by the lock timeout (release-stale-locks)


@dataclass(frozen=True)
class PaidOrder:
    """An order as orders' events tell it: who paid what in which shop (buyer None: not told)."""

    order_id: str
    shop_id: str
    buyer_id: str | None
    paid_fen: int
    lines: tuple[tuple[str, int], ...] = ()  # (sku_code, quantity) as paid, for buy-N gifts
