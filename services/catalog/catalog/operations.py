"""catalog's use cases: every change the API, the handler and the job make, each one
`verb(ctx, thing, ...)` with `ctx: Ctx[Settings]` (ecom_common.usecase). The caller opens the unit of
work and commits; an operation never does. Each transition records the events it causes right where
it happens; store.py loads and saves (guarded updates, timeline, SKUs).

Who may act on which product (CONTRACTS.md roles): merchant `ops` change their own shop's products;
reviewers approve and reject any; reviewers and admins take any product down (delist). Reading goes
through the one tenancy rule (store.can_read): a product outside the caller's scope is 404 unless it
is listed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa

from ecom_common import ids
from ecom_common.auth import not_found_unless
from ecom_common.db import is_unique_violation
from ecom_common.errors import Conflict, Forbidden, NotFound, UnprocessableEntity
from ecom_common.events import Envelope, make_event
from ecom_common.usecase import Ctx

from . import compliance, domain, store, sweeps
from .models import BannedWord, Category, CategoryAttribute, Product, Sku, TimelineEntry
from .settings import Settings

# An edit's SKUs are whole: a field the client leaves out takes its default (SkuIn's).
SKU_DEFAULTS: dict[str, Any] = {
    "spec": {},
    "barcode": None,
    "weight_g": None,
    "promo_price_fen": None,
    "member_price_fen": None,
    "low_stock_threshold": 10,
    "no_7day_return": False,
    "presale_ship_days": None,
}
# The product columns an edit writes (the SKUs are replaced separately).
EDITED_COLUMNS = ("category_id", "title", "brand", "description", "attributes", "images", "video")


class Saved(NamedTuple):
    """A created or edited product and the scan of what was saved (None: nothing was saved, scan
    it when it is shown)."""

    product: Product
    findings: list[compliance.Finding] | None


class Scan(NamedTuple):
    findings: list[compliance.Finding]
    attribute_completeness: int


# Tenancy ---------------------------------------------------------------------------------------
def get_product(ctx: Ctx[Settings], product_id: str) -> Product:
    """A product the caller may read; 404 for any other."""
    product = ctx.session.get(Product, product_id)
    not_found_unless(product is not None and store.can_read(store.scope_of(ctx), product), "product")
    assert product is not None
    return product


def _own_product(ctx: Ctx[Settings], product_id: str) -> Product:
    """A product the caller (merchant ops) may change: their own shop's."""
    product = get_product(ctx, product_id)
    if store.own_shop(store.scope_of(ctx)) != product.shop_id:
        raise Forbidden("you can only change your own shop's products")
    return product


def _delistable(ctx: Ctx[Settings], product_id: str) -> Product:
    """Platform staff take products down in any shop; merchant ops only their own."""
    if ctx.actor.has("reviewer", "admin"):
        return get_product(ctx, product_id)
    return _own_product(ctx, product_id)


# The scan as a gate ------------------------------------------------------------------------------
def _compliance_problem(findings: list[compliance.Finding]) -> UnprocessableEntity:
    errs = compliance.errors_of(findings)
    return UnprocessableEntity(
        f"the product breaks {len(errs)} listing rule(s)",
        compliance.field_errors(errs),
        findings=[f.to_dict() for f in errs],
    )


def _scan_or_422(
    ctx: Ctx[Settings], draft: dict[str, Any], tree: domain.CategoryTree | None = None
) -> list[compliance.Finding]:
    tree = tree or store.load_tree(ctx.session)
    findings = compliance.scan_product(draft, tree, store.load_lexicon(ctx.session), ctx.settings)
    if compliance.errors_of(findings):
        raise _compliance_problem(findings)
    return findings


def _codes_free_or_409(ctx: Ctx[Settings], shop_id: str, skus: list[dict[str, Any]], product_id: str | None) -> None:
    taken = store.codes_taken(ctx.session, shop_id, [s["sku_code"] for s in skus], product_id)
    if taken:
        errors = {
            f"skus[{i}].sku_code": [f"sku_code_taken: another product of this shop uses {s['sku_code']!r}"]
            for i, s in enumerate(skus)
            if s["sku_code"] in taken
        }
        raise Conflict(f"SKU code(s) already used in this shop: {', '.join(taken)}", errors)


def scan(ctx: Ctx[Settings], draft: dict[str, Any]) -> Scan:
    """The compliance scan run dry on a product body: nothing is saved."""
    tree = store.load_tree(ctx.session)
    findings = compliance.scan_product(draft, tree, store.load_lexicon(ctx.session), ctx.settings)
    return Scan(findings, compliance.attribute_completeness(tree, draft.get("category_id"), draft.get("attributes")))


# Events (payloads per ecom_common.events) -------------------------------------------------------
def _submitted(p: Product) -> Envelope:
    return make_event("catalog.ProductSubmitted", {"product_id": p.id, "shop_id": p.shop_id, "title": p.title})


def _listed(p: Product) -> Envelope:
    return make_event(
        "catalog.ProductListed",
        {
            "product_id": p.id,
            "shop_id": p.shop_id,
            "title": p.title,
            "category_id": p.category_id,
            "skus": store.sku_prices(p),
        },
    )


# Products ----------------------------------------------------------------------------------------
def create_product(ctx: Ctx[Settings], draft: dict[str, Any], *, shop_id: str) -> Saved:
    """A draft product of `shop_id`, after the scan (422) and the shop's SKU codes (409)."""
    tree = store.load_tree(ctx.session)
    findings = _scan_or_422(ctx, draft, tree)
    _codes_free_or_409(ctx, shop_id, draft["skus"], None)
    product = Product(
        id=ids.new_id("PR", ctx.now),
        shop_id=shop_id,
        category_id=draft["category_id"],
        title=draft["title"].strip(),
        brand=draft.get("brand"),
        description=draft.get("description"),
        attributes=draft.get("attributes") or {},
        images=draft.get("images") or [],
        video=draft.get("video"),
        status=domain.DRAFT,
        version=1,
        review_required=False,
        created_by=ctx.actor.id,
        created_at=ctx.now,
        updated_at=ctx.now,
    )
    ctx.session.add(product)
    ctx.session.flush()
    store.replace_skus(ctx.session, product, draft["skus"])
    store.write_timeline(
        ctx, product.id, domain.create(), details={"sku_codes": [s["sku_code"] for s in draft["skus"]]}
    )
    return Saved(product, findings)


def edit_product(ctx: Ctx[Settings], product_id: str, changes: dict[str, Any], *, version: int | None) -> Saved:
    """Apply `changes` (any subset of a product's fields; `skus` replace the list) if the product is
    still at `version` (when given). A content edit of a listed product sends it back to review; a
    price-only edit of a listed or delisted one publishes PriceChanged."""
    product = _own_product(ctx, product_id)
    if version is not None and version != product.version:
        raise Conflict(
            "the product has changed since you read it", {"version": [f"Current version is {product.version}."]}
        )
    before = store.product_draft(product)
    after = {**before, **changes}
    if "title" in changes:
        after["title"] = changes["title"].strip()
    if "skus" in changes:
        after["skus"] = [{**SKU_DEFAULTS, **s} for s in changes["skus"]]
    kind = domain.classify_edit(before, after)
    t = domain.edit(store.state_of(product), kind)
    if after == before:
        return Saved(product, None)  # nothing changed: no new version, no timeline entry
    tree = store.load_tree(ctx.session)
    findings = _scan_or_422(ctx, after, tree)
    if "skus" in changes:
        _codes_free_or_409(ctx, product.shop_id, after["skus"], product.id)
    changed = sorted(k for k in domain.CONTENT_FIELDS if before.get(k) != after.get(k))
    old_codes = [s["sku_code"] for s in before["skus"]]
    extra = {k: after[k] for k in EDITED_COLUMNS}
    if t.to_status == domain.PENDING:
        extra.update(_in_review(ctx))
    details = {
        "content": kind.content,
        "commercial": kind.commercial,
        "fields": changed,
        "skus_changed": "skus" in changes and before["skus"] != after["skus"],
    }
    store.apply(ctx, product, t, extra=extra, details=details)
    if "skus" in changes:
        store.replace_skus(ctx.session, product, after["skus"])
    if t.to_status == domain.PENDING:
        # No longer on sale while the change is reviewed: tell whoever tracks sellability.
        ctx.record(store.delisted_event(product, domain.UNDER_REVIEW, old_codes))
        ctx.record(_submitted(product))
    elif kind.commercial and t.to_status in (domain.LISTED, domain.DELISTED):
        ctx.record(
            make_event(
                "catalog.PriceChanged",
                {"product_id": product.id, "shop_id": product.shop_id, "skus": store.sku_prices(product)},
            )
        )
    return Saved(product, findings)


def _in_review(ctx: Ctx[Settings]) -> dict[str, Any]:
    """The columns of a product (re)entering the review queue now."""
    return {
        "submitted_at": ctx.now,
        "review_due_at": domain.review_due(ctx.now, ctx.settings),
        "reviewed_at": None,
        "reviewed_by": None,
    }


# The lifecycle: one transition of domain.py's state machine each ----------------------------------
def submit(ctx: Ctx[Settings], product_id: str) -> Product:
    """draft | rejected | delisted -> pending_review, after the scan (422)."""
    product = _own_product(ctx, product_id)
    t = domain.submit(store.state_of(product))
    _scan_or_422(ctx, store.product_draft(product))
    store.apply(ctx, product, t, extra=_in_review(ctx))
    ctx.record(_submitted(product))
    return product


def withdraw(ctx: Ctx[Settings], product_id: str) -> Product:
    """pending_review -> draft."""
    product = _own_product(ctx, product_id)
    t = domain.withdraw(store.state_of(product))
    store.apply(ctx, product, t, extra={"submitted_at": None, "review_due_at": None})
    return product


def approve(ctx: Ctx[Settings], product_id: str, *, reason: str | None = None) -> Product:
    """pending_review -> listed: ProductApproved and ProductListed (with SKUs and prices)."""
    product = get_product(ctx, product_id)
    t = domain.approve(store.state_of(product), reason)
    # The word list may have grown since submission: nothing that breaks the law goes on sale.
    _scan_or_422(ctx, store.product_draft(product))
    extra = {"reviewed_at": ctx.now, "reviewed_by": ctx.actor.id, "listed_at": ctx.now, "reject_reason": None}
    store.apply(ctx, product, t, extra=extra)
    ctx.record(
        make_event(
            "catalog.ProductApproved", {"product_id": product.id, "shop_id": product.shop_id, "reviewer": ctx.actor.id}
        )
    )
    ctx.record(_listed(product))
    return product


def reject(ctx: Ctx[Settings], product_id: str, *, reason: str) -> Product:
    """pending_review -> rejected, with the reason the merchant must fix."""
    product = get_product(ctx, product_id)
    t = domain.reject(store.state_of(product), reason)
    store.apply(ctx, product, t, extra={"reviewed_at": ctx.now, "reviewed_by": ctx.actor.id, "reject_reason": reason})
    ctx.record(
        make_event("catalog.ProductRejected", {"product_id": product.id, "shop_id": product.shop_id, "reason": reason})
    )
    return product


def delist(ctx: Ctx[Settings], product_id: str, *, reason: str, note: str | None = None) -> Product:
    """listed -> delisted (reviewers and admins in any shop, ops in their own)."""
    product = _delistable(ctx, product_id)
    t = domain.delist(store.state_of(product), reason, note)
    codes = [s.sku_code for s in product.skus]
    store.apply(ctx, product, t)
    ctx.record(store.delisted_event(product, reason, codes))
    return product


def relist(ctx: Ctx[Settings], product_id: str) -> Product:
    """delisted -> listed, unless delisted for a violation or edited since."""
    product = _own_product(ctx, product_id)
    t = domain.relist(store.state_of(product))
    store.apply(ctx, product, t, extra={"listed_at": ctx.now})
    ctx.record(_listed(product))
    return product


def delete(ctx: Ctx[Settings], product_id: str, *, reason: str | None = None) -> Product:
    """any live status -> deleted (restorable for CATALOG_RESTORE_DAYS)."""
    product = _own_product(ctx, product_id)
    t = domain.delete(store.state_of(product), ctx.now, reason)
    store.apply(ctx, product, t)
    ctx.record(
        make_event(
            "catalog.ProductDeleted",
            {"product_id": product.id, "shop_id": product.shop_id, "sku_codes": [s.sku_code for s in product.skus]},
        )
    )
    return product


def restore(ctx: Ctx[Settings], product_id: str) -> Product:
    """deleted -> back where it was (see domain.restore_target)."""
    product = _own_product(ctx, product_id)
    t = domain.restore(store.state_of(product), ctx.now, ctx.settings)
    store.apply(ctx, product, t)
    ctx.record(
        make_event(
            "catalog.ProductRestored", {"product_id": product.id, "shop_id": product.shop_id, "status": product.status}
        )
    )
    return product


# Categories ----------------------------------------------------------------------------------------
def _attributes_valid(
    tree: domain.CategoryTree, parent_id: str | None, attrs: list[dict[str, Any]], *, category_id: str | None = None
) -> None:
    errors = domain.attribute_errors(tree, parent_id, attrs, category_id=category_id)
    if errors:
        raise UnprocessableEntity("the attributes are not valid", errors)


def _sibling_name_free(tree: domain.CategoryTree, parent_id: str | None, name: str, exclude: str | None = None) -> None:
    if domain.sibling_named(tree, parent_id, name, exclude=exclude):
        raise Conflict(f"{name!r} already exists here", {"name": ["Already exists under this parent."]})


def _set_attributes(ctx: Ctx[Settings], category: Category, attrs: list[dict[str, Any]]) -> None:
    category.attributes.clear()
    ctx.session.flush()
    for i, a in enumerate(attrs):
        category.attributes.append(
            CategoryAttribute(
                name=a["name"].strip(),
                type=a["type"],
                required=a.get("required", False),
                options=list(a.get("options") or []),
                position=i,
            )
        )


def _count(ctx: Ctx[Settings], model: Any, condition: Any) -> int:
    return int(ctx.session.execute(sa.select(sa.func.count()).select_from(model).where(condition)).scalar() or 0)


def create_category(ctx: Ctx[Settings], name: str, *, parent_id: str | None, attributes: list[dict[str, Any]]) -> str:
    """A category under `parent_id` (an existing one, else 422; one holding products: 409) or a
    root; its id."""
    tree = store.load_tree(ctx.session)
    # `is not None`: every given id must exist (an empty one slipped past a truthiness check
    # and broke the foreign key: a 500)
    if parent_id is not None and tree.get(parent_id) is None:
        raise UnprocessableEntity("no such parent category", {"parent_id": ["Unknown category."]})
    if parent_id and _count(ctx, Product, Product.category_id == parent_id):
        raise Conflict(
            "the parent category holds products; products live in leaf categories only",
            {"parent_id": ["Holds products."]},
        )
    _sibling_name_free(tree, parent_id, name.strip(), None)
    _attributes_valid(tree, parent_id, attributes)
    category = Category(
        id=ids.new_id("CAT", ctx.now),
        parent_id=parent_id,
        name=name.strip(),
        created_at=ctx.now,
        updated_at=ctx.now,
    )
    ctx.session.add(category)
    ctx.session.flush()
    _set_attributes(ctx, category, attributes)
    return category.id


def update_category(
    ctx: Ctx[Settings],
    category_id: str,
    *,
    name: str | None = None,
    attributes: list[dict[str, Any]] | None = None,
) -> None:
    """Rename a category (None: keep its name) or replace its own attributes (None: keep them)."""
    tree = store.load_tree(ctx.session)
    category = ctx.session.get(Category, category_id)
    not_found_unless(category is not None, "category")
    assert category is not None
    if name is not None:
        _sibling_name_free(tree, category.parent_id, name.strip(), exclude=category_id)
        category.name = name.strip()
    if attributes is not None:
        _attributes_valid(tree, category.parent_id, attributes, category_id=category_id)
        _set_attributes(ctx, category, attributes)
    category.updated_at = ctx.now


def delete_category(ctx: Ctx[Settings], category_id: str) -> None:
    """Remove an empty category: one with subcategories or products (any status) is 409."""
    category = ctx.session.get(Category, category_id)
    not_found_unless(category is not None, "category")
    if _count(ctx, Category, Category.parent_id == category_id):
        raise Conflict("the category has subcategories", {"category_id": ["Has subcategories."]})
    if _count(ctx, Product, Product.category_id == category_id):
        raise Conflict("the category holds products", {"category_id": ["Holds products."]})
    ctx.session.delete(category)


# The word list -------------------------------------------------------------------------------------
def add_banned_word(ctx: Ctx[Settings], word: str, *, kind: str, note: str | None = None) -> BannedWord:
    """Ban a word or exempt one; 409 if it is already listed."""
    word = word.strip()
    if not word:
        raise UnprocessableEntity("the word is empty", {"word": ["Must not be blank."]})
    row = BannedWord(word=word, kind=kind, note=note, created_by=ctx.actor.id, created_at=ctx.now)
    ctx.session.add(row)
    try:
        ctx.session.flush()
    except sa.exc.IntegrityError as exc:
        if not is_unique_violation(exc):
            raise
        raise Conflict(f"{word!r} is already on the list", {"word": ["Already listed."]}) from exc
    if kind == "banned":  # listed products may break it now: re-scanned by the job, not in this request
        sweeps.queue(ctx, trigger=sweeps.BANNED_WORD, word=word)
    return row


def remove_banned_word(ctx: Ctx[Settings], word: str) -> None:
    """Take a word off the list (banned or exemption); 404 if absent."""
    deleted = ctx.session.execute(sa.delete(BannedWord).where(BannedWord.word == word)).rowcount
    if not deleted:
        raise NotFound("no such word on the list")


# Events consumed and the job -------------------------------------------------------------------
def note_low_stock(ctx: Ctx[Settings], sku_code: str, *, shop_id: str | None, available: int, at: datetime) -> None:
    """Remember inventory's alert on the SKU so ops see it on the product. An older alert arriving
    late never overwrites a newer one."""
    stmt = (
        sa.update(Sku)
        .where(Sku.sku_code == sku_code, sa.or_(Sku.low_stock_alert_at.is_(None), Sku.low_stock_alert_at <= at))
        .values(low_stock_available=available, low_stock_alert_at=at)
        .execution_options(synchronize_session=False)
    )
    if shop_id:
        stmt = stmt.where(Sku.shop_id == shop_id)
    ctx.session.execute(stmt)


def purgeable(ctx: Ctx[Settings], *, cutoff: datetime) -> list[str]:
    """Ids of products deleted before `cutoff` (past the restore window), oldest first, 500 at most."""
    return list(
        ctx.session.execute(
            sa.select(Product.id)
            .where(Product.status == domain.DELETED, Product.deleted_at <= cutoff)
            .order_by(Product.deleted_at)
            .limit(500)
        )
        .scalars()
        .all()
    )


def purge(ctx: Ctx[Settings], product_id: str, *, cutoff: datetime) -> bool:
    """Remove a product deleted before `cutoff` for good, with its SKUs (freeing their codes) and
    timeline. Claimed by a conditional UPDATE first, so that a restore racing the purge wins or
    loses cleanly: False when it was restored (or purged) meanwhile."""
    s = ctx.session
    claimed = s.execute(
        sa.update(Product)
        .where(Product.id == product_id, Product.status == domain.DELETED, Product.deleted_at <= cutoff)
        .values(version=Product.version + 1)
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        return False
    s.execute(sa.delete(Sku).where(Sku.product_id == product_id))
    s.execute(sa.delete(TimelineEntry).where(TimelineEntry.product_id == product_id))
    s.execute(sa.delete(Product).where(Product.id == product_id))
    return True
