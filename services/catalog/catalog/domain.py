"""catalog domain: categories and their typed attributes, what an edit changes, and the product
lifecycle (the state machine). No Flask, no SQL: every rule here is a plain function or class tested
without a database. The compliance scan is in compliance.py, the seeded tree and word list in seed.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ecom_common.errors import IllegalTransition, RuleViolation

from .settings import Settings


def effective_price(list_price_fen: int, promo_price_fen: int | None) -> int:
    """What a buyer pays without membership: the promotional price when there is one."""
    return promo_price_fen if promo_price_fen is not None else list_price_fen


# Categories and attributes ---------------------------------------------------------------------
TEXT, NUMBER, ENUM, MULTI_ENUM = "text", "number", "enum", "multi_enum"
ATTRIBUTE_TYPES = (TEXT, NUMBER, ENUM, MULTI_ENUM)


@dataclass(frozen=True)
class AttributeDef:
    name: str
    type: str
    required: bool = False
    options: tuple[str, ...] = ()
    category_id: str | None = None  # where it is declared (a leaf inherits its ancestors')


@dataclass
class CategoryNode:
    id: str
    name: str
    parent_id: str | None
    attributes: list[AttributeDef] = field(default_factory=list)


class CategoryTree:
    """The whole tree in memory (it is small): leaves, paths, inherited attributes, subtrees."""

    def __init__(self, nodes: list[CategoryNode]):
        self.nodes = {n.id: n for n in nodes}
        self.children: dict[str | None, list[str]] = {}
        for n in nodes:
            self.children.setdefault(n.parent_id, []).append(n.id)

    def get(self, category_id: str) -> CategoryNode | None:
        return self.nodes.get(category_id)

    def is_leaf(self, category_id: str) -> bool:
        return category_id in self.nodes and not self.children.get(category_id)

    def ancestors(self, category_id: str) -> list[CategoryNode]:
        """Root first, the category itself last."""
        chain, seen = [], set()
        node = self.nodes.get(category_id)
        while node is not None and node.id not in seen:
            seen.add(node.id)
            chain.append(node)
            node = self.nodes.get(node.parent_id) if node.parent_id else None
        return list(reversed(chain))

    def path(self, category_id: str) -> list[str]:
        return [n.name for n in self.ancestors(category_id)]

    def attributes(self, category_id: str) -> list[AttributeDef]:
        """A category's own attributes after those it inherits from its ancestors."""
        return [a for n in self.ancestors(category_id) for a in n.attributes]

    def subtree(self, category_id: str) -> list[str]:
        out, stack = [], [category_id]
        while stack:
            cid = stack.pop()
            out.append(cid)
            stack.extend(self.children.get(cid, []))
        return out


def validate_attribute_defs(defs: list[dict[str, Any]], inherited: list[AttributeDef]) -> dict[str, list[str]]:
    """Rules for an admin declaring attributes: unique names (also against inherited ones), known
    type, enum types with at least one option and no duplicate options."""
    errors: dict[str, list[str]] = {}
    names = {a.name for a in inherited}
    for i, d in enumerate(defs):
        key = f"attributes[{i}]"
        name = (d.get("name") or "").strip()
        if not name:
            errors.setdefault(f"{key}.name", []).append("an attribute needs a name")
        elif name in names:
            errors.setdefault(f"{key}.name", []).append(f"attribute {name!r} is declared twice (or inherited)")
        names.add(name)
        if d.get("type") not in ATTRIBUTE_TYPES:
            errors.setdefault(f"{key}.type", []).append(f"type must be one of {', '.join(ATTRIBUTE_TYPES)}")
        options = d.get("options") or []
        if d.get("type") in (ENUM, MULTI_ENUM):
            if not options:
                errors.setdefault(f"{key}.options", []).append("an enum attribute needs its allowed values")
            elif len(set(options)) != len(options):
                errors.setdefault(f"{key}.options", []).append("allowed values must be distinct")
        elif options:
            errors.setdefault(f"{key}.options", []).append("only enum and multi_enum attributes take options")
    return errors


def attribute_errors(
    tree: CategoryTree, parent_id: str | None, defs: list[dict[str, Any]], *, category_id: str | None = None
) -> dict[str, list[str]]:
    """The rules of validate_attribute_defs against what the category inherits from `parent_id`,
    and, for an existing category, no name its subcategories already declare."""
    inherited = tree.attributes(parent_id) if parent_id else []
    errors = validate_attribute_defs(defs, inherited)
    if category_id:
        names = {d["name"] for d in defs}
        for cid in tree.subtree(category_id)[1:]:
            for a in tree.nodes[cid].attributes:
                if a.name in names:
                    errors.setdefault("attributes", []).append(
                        f"{a.name!r} is already declared by the subcategory {' > '.join(tree.path(cid))}"
                    )
    return errors


def sibling_named(tree: CategoryTree, parent_id: str | None, name: str, *, exclude: str | None = None) -> bool:
    """Whether another child of `parent_id` (other than `exclude`) is called `name`."""
    return any(cid != exclude and tree.nodes[cid].name == name for cid in tree.children.get(parent_id, []))


# Edits ---------------------------------------------------------------------------------------
CONTENT_FIELDS = ("title", "brand", "description", "images", "video", "attributes", "category_id")
# A SKU's terms of sale are content too: the buyer reads them (不支持七天无理由, 预计N天内发货), so a
# listed product whose terms change goes back to review.
SKU_CONTENT_FIELDS = ("spec", "barcode", "no_7day_return", "presale_ship_days")
# The longest presale promise a SKU may make (预计N天内发货).
PRESALE_MAX_SHIP_DAYS = 60
SKU_COMMERCIAL_FIELDS = ("list_price_fen", "promo_price_fen", "member_price_fen", "low_stock_threshold", "weight_g")


@dataclass(frozen=True)
class EditKind:
    content: bool  # what a shopper reads changed: a listed product goes back to review
    commercial: bool  # prices (or weight / alert threshold) changed: PriceChanged


def classify_edit(before: dict[str, Any], after: dict[str, Any]) -> EditKind:
    """Title, description, images, attributes, brand, video, category, the set of SKUs or their spec
    are content; prices, weight and low-stock threshold are commercial."""
    content = any(before.get(f) != after.get(f) for f in CONTENT_FIELDS)
    b_skus = {s["sku_code"]: s for s in before.get("skus") or []}
    a_skus = {s["sku_code"]: s for s in after.get("skus") or []}
    if set(b_skus) != set(a_skus):
        content = True
    commercial = False
    for code in set(b_skus) & set(a_skus):
        b, a = b_skus[code], a_skus[code]
        if any((b.get(f) or None) != (a.get(f) or None) for f in SKU_CONTENT_FIELDS):
            content = True
        if any(b.get(f) != a.get(f) for f in SKU_COMMERCIAL_FIELDS):
            commercial = True
    return EditKind(content=content, commercial=commercial)


# Lifecycle -----------------------------------------------------------------------------------
DRAFT, PENDING, LISTED, REJECTED, DELISTED, DELETED = (
    "draft",
    "pending_review",
    "listed",
    "rejected",
    "delisted",
    "deleted",
)
STATUSES = (DRAFT, PENDING, LISTED, REJECTED, DELISTED, DELETED)

SEASONAL, OUT_OF_STOCK, VIOLATION = "seasonal", "out_of_stock", "violation"
DELIST_REASONS = (SEASONAL, OUT_OF_STOCK, VIOLATION)
# Not chosen by anyone: set when a listed product's content changes, or when a deleted listed
# product is restored.
UNDER_REVIEW, RESTORED = "under_review", "restored"
# Chosen by the compliance sweep (CATALOG_SWEEP_DELIST): like a violation, only review puts it back.
COMPLIANCE = "compliance"
MUST_BE_REVIEWED = (VIOLATION, COMPLIANCE)

# action -> states it may start from
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "submit": (DRAFT, REJECTED, DELISTED),
    "withdraw": (PENDING,),
    "approve": (PENDING,),
    "reject": (PENDING,),
    "delist": (LISTED,),
    "relist": (DELISTED,),
    "delete": (DRAFT, PENDING, LISTED, REJECTED, DELISTED),
    "restore": (DELETED,),
    "edit": (DRAFT, REJECTED, LISTED, DELISTED),
}


@dataclass(frozen=True)
class ProductState:
    status: str
    delist_reason: str | None = None
    review_required: bool = False  # delisted with content edited since: must be reviewed
    deleted_at: datetime | None = None
    status_before_delete: str | None = None


@dataclass(frozen=True)
class Transition:
    action: str
    from_status: str | None  # None only for the product's creation
    to_status: str
    reason: str | None = None
    changes: dict[str, Any] = field(default_factory=dict)  # other columns to set with the new status


def _guard(state: ProductState, action: str) -> None:
    if state.status not in TRANSITIONS[action]:
        raise IllegalTransition("product", state.status, action)


def create() -> Transition:
    """A new product starts as a draft (the first entry of its timeline)."""
    return Transition("create", None, DRAFT)


def submit(state: ProductState) -> Transition:
    _guard(state, "submit")
    return Transition("submit", state.status, PENDING)


def withdraw(state: ProductState) -> Transition:
    _guard(state, "withdraw")
    return Transition("withdraw", state.status, DRAFT, "withdrawn from review")


def approve(state: ProductState, reason: str | None = None) -> Transition:
    _guard(state, "approve")
    return Transition("approve", state.status, LISTED, reason, {"delist_reason": None, "review_required": False})


def reject(state: ProductState, reason: str) -> Transition:
    _guard(state, "reject")
    if not reason or not reason.strip():
        raise RuleViolation("a rejection needs a reason the merchant can act on", {"reason": ["Required."]})
    return Transition("reject", state.status, REJECTED, reason)


def delist(state: ProductState, reason: str, note: str | None = None) -> Transition:
    _guard(state, "delist")
    if reason not in (*DELIST_REASONS, COMPLIANCE):
        raise RuleViolation("unknown delist reason", {"reason": [f"One of: {', '.join(DELIST_REASONS)}."]})
    return Transition(
        "delist", state.status, DELISTED, f"{reason}: {note}" if note else reason, {"delist_reason": reason}
    )


def relist(state: ProductState) -> Transition:
    """Seasonal / out-of-stock delists go straight back on sale; a violation (or content edited
    while delisted) must pass review again: submit instead."""
    _guard(state, "relist")
    if state.delist_reason in MUST_BE_REVIEWED:
        raise IllegalTransition(
            f"product delisted for {state.delist_reason} (submit it for review)", state.status, "relist"
        )
    if state.review_required:
        raise IllegalTransition(
            "product whose content changed while delisted (submit it for review)", state.status, "relist"
        )
    return Transition("relist", state.status, LISTED, None, {"delist_reason": None})


def delete(state: ProductState, now: datetime, reason: str | None = None) -> Transition:
    _guard(state, "delete")
    return Transition(
        "delete", state.status, DELETED, reason, {"deleted_at": now, "status_before_delete": state.status}
    )


def restore_target(before: str | None) -> tuple[str, str | None]:
    """Where a restored product goes, and its delist reason. A product that was on sale comes back
    delisted (ops relist it deliberately); one that was waiting for review goes back to draft (its
    review slot is gone)."""
    if before in (LISTED, DELISTED):
        return DELISTED, RESTORED
    if before == REJECTED:
        return REJECTED, None
    return DRAFT, None


def restore(state: ProductState, now: datetime, settings: Settings) -> Transition:
    _guard(state, "restore")
    if state.deleted_at is not None and now > state.deleted_at + timedelta(days=settings.restore_days):
        raise IllegalTransition(f"product deleted more than {settings.restore_days} days ago", state.status, "restore")
    target, reason = restore_target(state.status_before_delete)
    changes: dict[str, Any] = {"deleted_at": None, "status_before_delete": None}
    if target == DELISTED:
        # Keep a violation delist a violation: restoring must not launder it.
        changes["delist_reason"] = state.delist_reason if state.delist_reason in MUST_BE_REVIEWED else reason
    return Transition("restore", state.status, target, None, changes)


def edit(state: ProductState, kind: EditKind) -> Transition:
    """An edit keeps the status, except content edits of a listed product (back to review); content
    edits of a delisted product mark it as needing review before it can be relisted."""
    _guard(state, "edit")
    if state.status == LISTED and kind.content:
        return Transition(
            "edit", LISTED, PENDING, "content changed while listed: review again", {"delist_reason": None}
        )
    changes: dict[str, Any] = {}
    if state.status == DELISTED and kind.content:
        changes["review_required"] = True
    return Transition("edit", state.status, state.status, None, changes)


def review_due(submitted_at: datetime, settings: Settings) -> datetime:
    return submitted_at + timedelta(hours=settings.review_due_hours)


def is_overdue(due_at: datetime | None, now: datetime) -> bool:
    return due_at is not None and now > due_at


def restorable_until(deleted_at: datetime | None, settings: Settings) -> datetime | None:
    return deleted_at + timedelta(days=settings.restore_days) if deleted_at else None


def purge_cutoff(now: datetime, settings: Settings) -> datetime:
    """Deleted before this moment -> past the restore window -> purged."""
    return now - timedelta(days=settings.restore_days)


# Compliance sweeps ---------------------------------------------------------------------------------
def sweep_slot(now: datetime, every_hours: int) -> datetime:
    """The start of the periodic-sweep slot `now` falls in (slots of `every_hours` from the epoch,
    UTC): one periodic sweep per slot, whichever replica queues it first."""
    hours = max(1, every_hours)
    epoch = datetime(1970, 1, 1, tzinfo=now.tzinfo)
    elapsed_h = int((now - epoch).total_seconds() // 3600)
    return epoch + timedelta(hours=elapsed_h - elapsed_h % hours)
