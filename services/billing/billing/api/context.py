"""What several billing views share: who reads money, and which shop a money read covers."""

from __future__ import annotations

from ecom_common.auth import shop_or_all

# The roles that read a shop's money (ledger, settlements, payouts, reconciliation).
MONEY_READERS = ("finance", "admin", "ops")


def money_scope(requested: str | None) -> str | None:
    """The shop a money read covers (ecom_common.auth.shop_or_all): merchant staff their own,
    platform roles and finance without a shop the one asked for, or all."""
    return shop_or_all(requested)
