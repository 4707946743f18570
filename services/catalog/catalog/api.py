"""catalog HTTP API: flask-smorest blueprint and marshmallow schemas.

Who may do what (CONTRACTS.md roles):
- `ops` with a shop_id creates, edits, submits, withdraws, delists, relists, deletes and restores the
  products of their own shop;
- `reviewer` works the review queue (approve / reject) and may delist any product (a takedown);
- `admin` manages categories and banned words, and may delist any product;
- everyone authenticated reads. Platform roles (admin, reviewer, service, finance without a shop) see
  every product; merchant staff see their own shop's products in every status and other shops' only
  when listed; a buyer sees listed products. Anything not visible answers 404.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import sqlalchemy as sa
from marshmallow import Schema, fields, validate
from sqlalchemy.orm import Session

from ecom_common.auth import (
    PLATFORM_ROLES,
    Principal,
    Scope,
    current_principal,
    current_scope,
    list_filter,
    not_found_unless,
    requires,
)
from ecom_common.config import Config
from ecom_common.db import is_unique_violation
from ecom_common.errors import Conflict, DomainError, Forbidden, NotFound, Problem, UnprocessableEntity
from ecom_common.http import MAX_INT, Blueprint, BodySchema, PageArgs, UtcTime, current_config, current_db, paginate
from ecom_common.idempotency import idempotent

from . import domain, operations
from .models import BannedWord, Category, CategoryAttribute, Product, Sku, TimelineEntry

blp = Blueprint("catalog", __name__, url_prefix="/api/v1",
                description="Categories, products and SKUs, the compliance scan and the review workflow")

BULK_MAX = 200


# Schemas ---------------------------------------------------------------------------------------


class ImageSchema(BodySchema):
    url = fields.Str(required=True, validate=validate.Length(min=1, max=500))
    width = fields.Int(allow_none=True, validate=validate.Range(min=1, max=MAX_INT))
    height = fields.Int(allow_none=True, validate=validate.Range(min=1, max=MAX_INT))


class VideoSchema(BodySchema):
    url = fields.Str(required=True, validate=validate.Length(min=1, max=500))
    duration_s = fields.Float(allow_none=True, validate=validate.Range(min=0))


# Python's `\s`, spelled out: the spec carries this pattern, and `\s` means other characters in the
# regex dialects of OpenAPI clients (ECMA) than in Python's, so that each refused what the other took.
WHITESPACE = r"\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
SKU_CODE = rf"^[^{WHITESPACE}/?#%]+$"
# What `add_word` keeps after str.strip(): something (and no NUL, as everywhere).
NOT_BLANK = rf"^[^\x00]*[^\x00{WHITESPACE}][^\x00]*$"


class SkuIn(BodySchema):
    sku_code = fields.Str(required=True, validate=[validate.Length(min=1, max=64),
                                                   validate.Regexp(SKU_CODE, error="No spaces, /, ?, # or %.")])
    spec = fields.Dict(keys=fields.Str(), values=fields.Raw(), load_default=dict,
                       metadata={"description": "spec values, e.g. {\"颜色\": \"红色\", \"尺码\": \"M\"}"})
    barcode = fields.Str(allow_none=True, validate=validate.Length(max=32))
    weight_g = fields.Int(allow_none=True, validate=validate.Range(min=0, max=MAX_INT))
    list_price_fen = fields.Int(required=True, validate=validate.Range(max=MAX_INT))
    promo_price_fen = fields.Int(allow_none=True, validate=validate.Range(max=MAX_INT))
    member_price_fen = fields.Int(allow_none=True, validate=validate.Range(max=MAX_INT))
    low_stock_threshold = fields.Int(load_default=10, validate=validate.Range(min=0, max=MAX_INT))


class ProductIn(BodySchema):
    shop_id = fields.Str(metadata={"description": "optional; merchant staff act for the shop in their token"})
    category_id = fields.Str(required=True)
    title = fields.Str(required=True, validate=validate.Length(max=200))
    brand = fields.Str(allow_none=True, validate=validate.Length(max=100))
    description = fields.Str(allow_none=True, validate=validate.Length(max=20000))
    attributes = fields.Dict(keys=fields.Str(), values=fields.Raw(), load_default=dict)
    images = fields.List(fields.Nested(ImageSchema), load_default=list,
                         metadata={"description": "main image first, then detail images"})
    video = fields.Nested(VideoSchema, allow_none=True)
    skus = fields.List(fields.Nested(SkuIn), required=True)


# The scan's partial parts, named so that the spec has one component per name.
class ScanImage(ImageSchema):
    pass


class ScanVideo(VideoSchema):
    pass


class ScanSku(SkuIn):
    pass


class ScanIn(ProductIn):
    """A product body to dry-run the scan on; every field optional, in its SKUs, images and video too
    (loaded partial all the way down, and documented so)."""

    images = fields.List(fields.Nested(ScanImage(partial=True)))
    video = fields.Nested(ScanVideo(partial=True), allow_none=True)
    skus = fields.List(fields.Nested(ScanSku(partial=True)))


class ProductPatch(ProductIn):
    version = fields.Int(metadata={"description": "the version you read; 409 if it moved on"}, validate=validate.Range(max=MAX_INT))


class SkuOut(Schema):
    sku_code = fields.Str()
    spec = fields.Dict()
    barcode = fields.Str(allow_none=True)
    weight_g = fields.Int(allow_none=True)
    list_price_fen = fields.Int()
    promo_price_fen = fields.Int(allow_none=True)
    member_price_fen = fields.Int(allow_none=True)
    price_fen = fields.Int(metadata={"description": "effective selling price: promo if set, else list"})
    low_stock_threshold = fields.Int()
    low_stock_available = fields.Int(allow_none=True, metadata={"description": "from the last inventory.LowStock"})
    low_stock_alert_at = UtcTime(allow_none=True)


class FindingSchema(Schema):
    field = fields.Str()
    rule = fields.Str()
    text = fields.Str()
    message = fields.Str()
    severity = fields.Str(metadata={"description": "error (blocks saving) or warning (advice)"})


class ProductOut(Schema):
    """A product. Its review trail (created_by, review_required, submitted_at, review_due_at,
    review_overdue, reviewed_at, reviewed_by, reject_reason) is left out for callers other than the
    product's shop staff and platform roles (admin, reviewer, service)."""
    product_id = fields.Str()
    shop_id = fields.Str()
    category_id = fields.Str()
    category_path = fields.List(fields.Str())
    title = fields.Str()
    brand = fields.Str(allow_none=True)
    description = fields.Str(allow_none=True)
    attributes = fields.Dict()
    images = fields.List(fields.Dict())
    video = fields.Dict(allow_none=True)
    status = fields.Str(metadata={"description": ", ".join(domain.STATUSES)})
    version = fields.Int()
    delist_reason = fields.Str(allow_none=True)
    review_required = fields.Bool()
    sellable = fields.Bool()
    attribute_completeness = fields.Int(metadata={"description": "percent of the category's attributes filled"})
    submitted_at = UtcTime(allow_none=True)
    review_due_at = UtcTime(allow_none=True)
    review_overdue = fields.Bool()
    reviewed_at = UtcTime(allow_none=True)
    reviewed_by = fields.Str(allow_none=True)
    reject_reason = fields.Str(allow_none=True)
    listed_at = UtcTime(allow_none=True)
    deleted_at = UtcTime(allow_none=True)
    restorable_until = UtcTime(allow_none=True)
    created_by = fields.Str()
    created_at = UtcTime()
    updated_at = UtcTime()
    skus = fields.List(fields.Nested(SkuOut))
    findings = fields.List(fields.Nested(FindingSchema), metadata={"description": "warnings of the last scan"})


class ProductPage(Schema):
    items = fields.List(fields.Nested(ProductOut))
    next_cursor = fields.Str(allow_none=True)


class ProductListArgs(PageArgs):
    status = fields.Str(validate=validate.OneOf(domain.STATUSES),
                        metadata={"description": "deleted products are listed only when asked for"})
    category_id = fields.Str(metadata={"description": "this category and everything below it"})
    shop_id = fields.Str()
    q = fields.Str(validate=validate.Length(min=1, max=100), metadata={"description": "text in the title"})
    updated_since = fields.DateTime()


class ReasonIn(BodySchema):
    reason = fields.Str(required=True, validate=validate.Length(min=1, max=500))


class OptionalReasonIn(BodySchema):
    reason = fields.Str(validate=validate.Length(max=500))


class DelistIn(BodySchema):
    reason = fields.Str(required=True, validate=validate.OneOf(domain.DELIST_REASONS))
    note = fields.Str(validate=validate.Length(max=500))


class BulkIds(BodySchema):
    product_ids = fields.List(fields.Str(), required=True, validate=validate.Length(min=1, max=BULK_MAX))


class BulkDelistIn(BulkIds, DelistIn):
    pass


class BulkItem(Schema):
    product_id = fields.Str()
    ok = fields.Bool()
    status = fields.Str(allow_none=True, metadata={"description": "the product's status afterwards"})
    error = fields.Dict(allow_none=True, metadata={"description": "{status, title, detail} when not ok"})


class BulkOut(Schema):
    succeeded = fields.Int()
    failed = fields.Int()
    results = fields.List(fields.Nested(BulkItem))


class TimelineOut(Schema):
    """The timeline entry every service returns, plus catalog's `entry_id` (its order) and `by_roles`."""
    entry_id = fields.Int(attribute="id")
    at = UtcTime()
    by = fields.Str(attribute="actor")
    by_roles = fields.Str(attribute="actor_roles", metadata={"description": "the roles `by` acted with"})
    action = fields.Str()
    from_status = fields.Str(allow_none=True)
    status = fields.Str(attribute="to_status", metadata={"description": "the status after the entry"})
    reason = fields.Str(allow_none=True)
    details = fields.Dict(allow_none=True, metadata={"description": "what changed (edits), findings etc."})


class TimelinePage(Schema):
    items = fields.List(fields.Nested(TimelineOut))
    next_cursor = fields.Str(allow_none=True)


class ReviewItem(ProductOut):
    overdue = fields.Bool()


class ReviewPage(Schema):
    items = fields.List(fields.Nested(ReviewItem))
    next_cursor = fields.Str(allow_none=True)


class ReviewQueueArgs(PageArgs):
    overdue = fields.Bool(metadata={"description": "only items past their review due time"})
    shop_id = fields.Str()
    category_id = fields.Str()


class ScanOut(Schema):
    passed = fields.Bool()
    attribute_completeness = fields.Int()
    findings = fields.List(fields.Nested(FindingSchema))


class SkuView(Schema):
    sku_code = fields.Str()
    shop_id = fields.Str()
    product_id = fields.Str()
    title = fields.Str()
    category_id = fields.Str()
    product_status = fields.Str()
    sellable = fields.Bool(metadata={"description": "true only when the product is listed"})
    list_price_fen = fields.Int()
    promo_price_fen = fields.Int(allow_none=True)
    member_price_fen = fields.Int(allow_none=True)
    price_fen = fields.Int(metadata={"description": "effective selling price: promo if set, else list"})
    weight_g = fields.Int(allow_none=True)
    low_stock_threshold = fields.Int()
    spec = fields.Dict()
    barcode = fields.Str(allow_none=True)


class SkuArgs(Schema):
    shop_id = fields.Str(metadata={"description": "required for platform roles; merchant staff default to their own"})


class SkuBatchIn(BodySchema):
    shop_id = fields.Str()
    sku_codes = fields.List(fields.Str(validate=validate.Length(min=1, max=64)), required=True,
                            validate=validate.Length(min=1, max=BULK_MAX))


class SkuBatchOut(Schema):
    items = fields.List(fields.Nested(SkuView))
    missing = fields.List(fields.Str())


class AttributeIn(BodySchema):
    name = fields.Str(required=True, validate=validate.Length(min=1, max=60))
    type = fields.Str(required=True, validate=validate.OneOf(domain.ATTRIBUTE_TYPES))
    required = fields.Bool(load_default=False)
    options = fields.List(fields.Str(validate=validate.Length(min=1, max=60)), load_default=list)


class AttributeOut(AttributeIn):
    declared_in = fields.Str(metadata={"description": "the category that declares it (leaves inherit)"})


class CategoryIn(BodySchema):
    name = fields.Str(required=True, validate=validate.Length(min=1, max=60))
    parent_id = fields.Str(allow_none=True, validate=validate.Length(min=1, max=40),
                           metadata={"description": "null or absent: a root category"})
    attributes = fields.List(fields.Nested(AttributeIn), load_default=list)


class CategoryPatch(BodySchema):
    name = fields.Str(validate=validate.Length(min=1, max=60))
    attributes = fields.List(fields.Nested(AttributeIn),
                             metadata={"description": "replaces the category's own attributes"})


class CategoryOut(Schema):
    category_id = fields.Str()
    parent_id = fields.Str(allow_none=True)
    name = fields.Str()
    path = fields.List(fields.Str())
    is_leaf = fields.Bool()
    attributes = fields.List(fields.Nested(AttributeOut), metadata={"description": "inherited ones first"})
    children = fields.List(fields.Dict(), metadata={"description": "only in /categories/tree"})


class CategoryPage(Schema):
    items = fields.List(fields.Nested(CategoryOut))
    next_cursor = fields.Str(allow_none=True)


class CategoryListArgs(PageArgs):
    parent_id = fields.Str(metadata={"description": "children of this category; 'root' for the top level"})


class BannedWordIn(BodySchema):
    word = fields.Str(required=True, validate=validate.Length(min=1, max=50),
                      metadata={"pattern": NOT_BLANK, "description": "blank once trimmed: 422"})
    kind = fields.Str(load_default="banned", validate=validate.OneOf(["banned", "exemption"]))
    note = fields.Str(validate=validate.Length(max=200))


class BannedWordOut(Schema):
    word = fields.Str()
    kind = fields.Str()
    note = fields.Str(allow_none=True)
    created_by = fields.Str()
    created_at = UtcTime()


class BannedWordPage(Schema):
    items = fields.List(fields.Nested(BannedWordOut))
    next_cursor = fields.Str(allow_none=True)


class BannedWordArgs(PageArgs):
    kind = fields.Str(validate=validate.OneOf(["banned", "exemption"]))


# Context -----------------------------------------------------------------------------------------
@dataclass
class Ctx:
    session: Session
    principal: Principal
    config: Config
    rules: domain.Rules
    now: datetime

    @property
    def actor(self) -> str:
        return self.principal.sub


def _ctx(session: Session) -> Ctx:
    config = current_config()
    return Ctx(session, current_principal(), config, domain.Rules.from_config(config), config.clock.now())


def own_shop(scope: Scope) -> str | None:
    """The shop whose every product (any status) this caller may change; None for platform roles
    and callers of no shop."""
    return None if scope.all_shops else scope.shop_id


def can_read(scope: Scope, product: Product) -> bool:
    """Listed products are public to every caller who may see anything (staff without a shop may
    not); the rest only within the caller's scope."""
    return not scope.nothing and (product.status == domain.LISTED or scope.allows(product.shop_id))


def _load(ctx: Ctx, product_id: str) -> Product:
    product = ctx.session.get(Product, product_id)
    not_found_unless(product is not None and can_read(current_scope(), product), "product")
    return product


def _load_own(ctx: Ctx, product_id: str) -> Product:
    """A product the caller (merchant ops) may change: their own shop's."""
    product = _load(ctx, product_id)
    if own_shop(current_scope()) != product.shop_id:
        raise Forbidden("you can only change your own shop's products")
    return product


def _merchant_shop(requested: str | None = None) -> str:
    shop = own_shop(current_scope())
    if shop is None:
        raise Forbidden("only merchant staff with a shop_id in their token can do this")
    if requested and requested != shop:
        raise Forbidden("you can only act for your own shop")
    return shop


def compliance_problem(findings: list[domain.Finding]) -> UnprocessableEntity:
    errs = domain.errors_of(findings)
    return UnprocessableEntity(
        f"the product breaks {len(errs)} listing rule(s)", domain.field_errors(errs),
        findings=[f.to_dict() for f in errs],
    )


def _scan_or_422(ctx: Ctx, draft: dict, tree=None) -> list[domain.Finding]:
    tree = tree or operations.load_tree(ctx.session)
    findings = domain.scan_product(draft, tree, operations.load_lexicon(ctx.session), ctx.rules)
    if domain.errors_of(findings):
        raise compliance_problem(findings)
    return findings


def _codes_free_or_409(ctx: Ctx, shop_id: str, skus: list[dict], product_id: str | None) -> None:
    taken = operations.codes_taken(ctx.session, shop_id, [s["sku_code"] for s in skus], product_id)
    if taken:
        errors = {f"skus[{i}].sku_code": [f"sku_code_taken: another product of this shop uses {s['sku_code']!r}"]
                  for i, s in enumerate(skus) if s["sku_code"] in taken}
        raise Conflict(f"SKU code(s) already used in this shop: {', '.join(taken)}", errors)


# The review trail names staff (who created, who reviewed) and carries reviewers' notes: the shop's
# and the platform's business, not a buyer's nor another shop's, who see a listed product without it.
REVIEW_FIELDS = ("created_by", "review_required", "submitted_at", "review_due_at", "review_overdue",
                 "reviewed_at", "reviewed_by", "reject_reason")


# Who reads a product's review trail (staff ids, reject notes): the platform and the shop's product
# staff, through the one tenancy rule; buyers, finance and other shops see the listing without it.
REVIEW_TRAIL_ROLES = PLATFORM_ROLES | {"ops", "cs", "warehouse"}


def sees_review_history(p: Principal, product: Product) -> bool:
    return p.scope(REVIEW_TRAIL_ROLES).allows(product.shop_id)


def _view(ctx: Ctx, product: Product, tree=None, findings=None) -> dict:
    tree = tree or operations.load_tree(ctx.session)
    view = operations.product_view(product, tree, ctx.now, ctx.rules)
    if not sees_review_history(ctx.principal, product):
        for name in REVIEW_FIELDS:
            del view[name]
    if findings is None:
        findings = domain.scan_product(operations.product_draft(product), tree, operations.load_lexicon(ctx.session), ctx.rules)
    view["findings"] = [f.to_dict() for f in findings]
    return view


def _commit(uow) -> None:
    try:
        uow.commit()
    except sa.exc.IntegrityError as exc:
        if is_unique_violation(exc):
            raise Conflict("a SKU code of this product was taken meanwhile", {"skus": ["sku_code_taken"]})
        raise


# Products ------------------------------------------------------------------------------------
@blp.route("/products", methods=["POST"])
@requires("ops")
@idempotent()
@blp.arguments(ProductIn)
@blp.response(201, ProductOut)
def create_product(body):
    """Create a product (draft) for your shop.

    The compliance scan runs first: 422 lists every finding as a field error naming the rule and
    the offending text (also in `findings`). A SKU code already used in the shop is 409."""
    shop_id = _merchant_shop(body.pop("shop_id", None))
    with current_db().uow() as uow:
        ctx = _ctx(uow.session)
        tree = operations.load_tree(ctx.session)
        findings = _scan_or_422(ctx, body, tree)
        _codes_free_or_409(ctx, shop_id, body["skus"], None)
        product = Product(
            id=domain.new_product_id(ctx.now), shop_id=shop_id, category_id=body["category_id"],
            title=body["title"].strip(), brand=body.get("brand"), description=body.get("description"),
            attributes=body.get("attributes") or {}, images=body.get("images") or [], video=body.get("video"),
            status=domain.DRAFT, version=1, review_required=False, created_by=ctx.actor,
            created_at=ctx.now, updated_at=ctx.now,
        )
        ctx.session.add(product)
        ctx.session.flush()
        operations.replace_skus(ctx.session, product, body["skus"])
        operations.write_timeline(ctx.session, product.id, ctx.now, ctx.actor, ctx.principal.roles, "create", None,
                             domain.DRAFT, None, {"sku_codes": [s["sku_code"] for s in body["skus"]]})
        _commit(uow)
        return _view(ctx, product, tree, findings)


@blp.route("/products", methods=["GET"])
@requires()
@blp.arguments(ProductListArgs, location="query")
@blp.response(200, ProductPage)
def list_products(args):
    """Search products.

    Newest first; filters: status, category (with its subcategories), shop, text in the title,
    updated since. Merchant staff see their own shop's products and others' listed ones; deleted
    products only with status=deleted."""
    with current_db().Session() as session:
        ctx = _ctx(session)
        stmt = sa.select(Product).where(sa.or_(Product.status == domain.LISTED, list_filter(Product.shop_id)))
        if args.get("status"):
            stmt = stmt.where(Product.status == args["status"])
        else:
            stmt = stmt.where(Product.status != domain.DELETED)
        if args.get("shop_id"):
            stmt = stmt.where(Product.shop_id == args["shop_id"])
        tree = operations.load_tree(session)
        if args.get("category_id"):
            stmt = stmt.where(Product.category_id.in_(tree.subtree(args["category_id"])))
        if args.get("q"):
            stmt = stmt.where(sa.func.lower(Product.title).contains(args["q"].lower(), autoescape=True))
        if args.get("updated_since"):
            stmt = stmt.where(Product.updated_at >= _utc(args["updated_since"]))
        return paginate(session, stmt, [Product.id], args["limit"], args.get("cursor"),
                        to_item=lambda prod: _view(ctx, prod, tree, findings=[]))


def _utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


@blp.route("/products/<product_id>", methods=["GET"])
@requires()
@blp.response(200, ProductOut)
def get_product(product_id):
    """One product with its SKUs, attribute completeness and the warnings of the scan."""
    with current_db().Session() as session:
        ctx = _ctx(session)
        return _view(ctx, _load(ctx, product_id))


@blp.route("/products/<product_id>", methods=["PUT", "PATCH"])
@requires("ops")
@blp.arguments(ProductPatch(partial=True))
@blp.response(200, ProductOut)
def edit_product(body, product_id):
    """Edit a product (any subset of fields).

    `skus`, when given, replace the list (kept codes keep their identity). Content edits (title,
    brand, description, images, video, attributes, category, SKU set, spec or barcode) of a listed
    product send it back to review; price-only edits (prices, weight, low-stock threshold) keep it
    listed and publish catalog.PriceChanged. The scan runs on the result (422); `version` guards
    against lost updates (409)."""
    body.pop("shop_id", None)
    expected_version = body.pop("version", None)
    with current_db().uow() as uow:
        ctx = _ctx(uow.session)
        product = _load_own(ctx, product_id)
        if expected_version is not None and expected_version != product.version:
            raise Conflict("the product has changed since you read it",
                           {"version": [f"Current version is {product.version}."]})
        before = operations.product_draft(product)
        after = {**before, **{k: v for k, v in body.items()}}
        if "title" in body:
            after["title"] = body["title"].strip()
        if "skus" in body:
            after["skus"] = [{**{"spec": {}, "barcode": None, "weight_g": None, "promo_price_fen": None,
                                 "member_price_fen": None, "low_stock_threshold": 10}, **s} for s in body["skus"]]
        kind = domain.classify_edit(before, after)
        t = domain.edit(operations.state_of(product), kind)
        if after == before:
            return _view(ctx, product)   # nothing changed: no new version, no timeline entry
        tree = operations.load_tree(ctx.session)
        findings = _scan_or_422(ctx, after, tree)
        if "skus" in body:
            _codes_free_or_409(ctx, product.shop_id, after["skus"], product.id)
        changed = sorted(k for k in domain.CONTENT_FIELDS if before.get(k) != after.get(k))
        old_codes = [s["sku_code"] for s in before["skus"]]
        extra = {k: after[k] for k in ("category_id", "title", "brand", "description", "attributes", "images", "video")}
        if t.to_status == domain.PENDING:
            extra.update(submitted_at=ctx.now, review_due_at=domain.review_due(ctx.now, ctx.rules),
                         reviewed_at=None, reviewed_by=None)
        operations.apply(ctx.session, product, t, ctx.now, ctx.actor, ctx.principal.roles, extra,
                    {"content": kind.content, "commercial": kind.commercial, "fields": changed,
                     "skus_changed": "skus" in body and before["skus"] != after["skus"]})
        if "skus" in body:
            operations.replace_skus(ctx.session, product, after["skus"])
        if t.to_status == domain.PENDING:
            # No longer on sale while the change is reviewed: tell whoever tracks sellability.
            uow.record(operations.ev_delisted(product, domain.UNDER_REVIEW, old_codes))
            uow.record(operations.ev_submitted(product))
        elif kind.commercial and t.to_status in (domain.LISTED, domain.DELISTED):
            uow.record(operations.ev_price_changed(product))
        _commit(uow)
        return _view(ctx, product, tree, findings)


# Transitions -----------------------------------------------------------------------------------
def do_submit(ctx: Ctx, uow, product: Product) -> None:
    t = domain.submit(operations.state_of(product))
    _scan_or_422(ctx, operations.product_draft(product))
    operations.apply(ctx.session, product, t, ctx.now, ctx.actor, ctx.principal.roles, {
        "submitted_at": ctx.now, "review_due_at": domain.review_due(ctx.now, ctx.rules),
        "reviewed_at": None, "reviewed_by": None,
    })
    uow.record(operations.ev_submitted(product))


def do_withdraw(ctx: Ctx, uow, product: Product) -> None:
    t = domain.withdraw(operations.state_of(product))
    operations.apply(ctx.session, product, t, ctx.now, ctx.actor, ctx.principal.roles,
                {"submitted_at": None, "review_due_at": None})


def do_approve(ctx: Ctx, uow, product: Product, reason: str | None) -> None:
    t = domain.approve(operations.state_of(product), reason)
    # The word list may have grown since submission: nothing that breaks the law goes on sale.
    _scan_or_422(ctx, operations.product_draft(product))
    operations.apply(ctx.session, product, t, ctx.now, ctx.actor, ctx.principal.roles, {
        "reviewed_at": ctx.now, "reviewed_by": ctx.actor, "listed_at": ctx.now, "reject_reason": None,
    })
    uow.record(operations.ev_approved(product, ctx.actor))
    uow.record(operations.ev_listed(product))


def do_reject(ctx: Ctx, uow, product: Product, reason: str) -> None:
    t = domain.reject(operations.state_of(product), reason)
    operations.apply(ctx.session, product, t, ctx.now, ctx.actor, ctx.principal.roles, {
        "reviewed_at": ctx.now, "reviewed_by": ctx.actor, "reject_reason": reason,
    })
    uow.record(operations.ev_rejected(product, reason))


def do_delist(ctx: Ctx, uow, product: Product, reason: str, note: str | None) -> None:
    t = domain.delist(operations.state_of(product), reason, note)
    codes = [s.sku_code for s in product.skus]
    operations.apply(ctx.session, product, t, ctx.now, ctx.actor, ctx.principal.roles)
    uow.record(operations.ev_delisted(product, reason, codes))


def do_relist(ctx: Ctx, uow, product: Product) -> None:
    t = domain.relist(operations.state_of(product))
    operations.apply(ctx.session, product, t, ctx.now, ctx.actor, ctx.principal.roles, {"listed_at": ctx.now})
    uow.record(operations.ev_listed(product))


def do_delete(ctx: Ctx, uow, product: Product, reason: str | None) -> None:
    t = domain.delete(operations.state_of(product), ctx.now, reason)
    operations.apply(ctx.session, product, t, ctx.now, ctx.actor, ctx.principal.roles)
    uow.record(operations.ev_deleted(product))


def do_restore(ctx: Ctx, uow, product: Product) -> None:
    t = domain.restore(operations.state_of(product), ctx.now, ctx.rules)
    operations.apply(ctx.session, product, t, ctx.now, ctx.actor, ctx.principal.roles)
    uow.record(operations.ev_restored(product))


def _transition(product_id: str, do, own: bool = True, **kwargs) -> dict:
    with current_db().uow() as uow:
        ctx = _ctx(uow.session)
        product = _load_own(ctx, product_id) if own else _load(ctx, product_id)
        do(ctx, uow, product, **kwargs)
        uow.commit()
        return _view(ctx, product)


@blp.route("/products/<product_id>/submit", methods=["POST"])
@requires("ops")
@idempotent()
@blp.response(200, ProductOut)
def submit_product(product_id):
    """draft | rejected | delisted -> pending_review (the scan runs again; due in 24 h)."""
    return _transition(product_id, do_submit)


@blp.route("/products/<product_id>/withdraw", methods=["POST"])
@requires("ops")
@idempotent()
@blp.response(200, ProductOut)
def withdraw_product(product_id):
    """pending_review -> draft, to change it before a reviewer looks."""
    return _transition(product_id, do_withdraw)


@blp.route("/products/<product_id>/approve", methods=["POST"])
@requires("reviewer")
@idempotent()
@blp.arguments(OptionalReasonIn, required=False)
@blp.response(200, ProductOut)
def approve_product(body, product_id):
    """Approve: pending_review -> listed.

    Publishes catalog.ProductApproved and catalog.ProductListed (with SKUs and prices; inventory
    creates stock items from it). The scan runs again with today's word list (422)."""
    return _transition(product_id, do_approve, own=False, reason=(body or {}).get("reason"))


@blp.route("/products/<product_id>/reject", methods=["POST"])
@requires("reviewer")
@idempotent()
@blp.arguments(ReasonIn)
@blp.response(200, ProductOut)
def reject_product(body, product_id):
    """pending_review -> rejected, with the reason the merchant must fix."""
    return _transition(product_id, do_reject, own=False, reason=body["reason"])


def _delist_target(ctx: Ctx, product_id: str) -> Product:
    # Platform staff take products down in any shop; merchant ops only their own.
    if ctx.principal.has("reviewer", "admin"):
        return _load(ctx, product_id)
    return _load_own(ctx, product_id)


@blp.route("/products/<product_id>/delist", methods=["POST"])
@requires("ops", "reviewer", "admin")
@idempotent()
@blp.arguments(DelistIn)
@blp.response(200, ProductOut)
def delist_product(body, product_id):
    """Delist: listed -> delisted.

    reason seasonal / out_of_stock (relist directly) or violation (must be reviewed again).
    Reviewers and admins may take down any shop's product."""
    with current_db().uow() as uow:
        ctx = _ctx(uow.session)
        product = _delist_target(ctx, product_id)
        do_delist(ctx, uow, product, body["reason"], body.get("note"))
        uow.commit()
        return _view(ctx, product)


@blp.route("/products/<product_id>/relist", methods=["POST"])
@requires("ops")
@idempotent()
@blp.response(200, ProductOut)
def relist_product(product_id):
    """delisted -> listed, unless delisted for a violation or edited since (then: submit)."""
    return _transition(product_id, do_relist)


@blp.route("/products/<product_id>", methods=["DELETE"])
@requires("ops")
@blp.arguments(OptionalReasonIn, required=False)
@blp.response(200, ProductOut)
def delete_product(body, product_id):
    """any -> deleted; restorable for 30 days (CATALOG_RESTORE_DAYS), then purged by a job."""
    return _transition(product_id, do_delete, reason=(body or {}).get("reason"))


@blp.route("/products/<product_id>/restore", methods=["POST"])
@requires("ops")
@idempotent()
@blp.response(200, ProductOut)
def restore_product(product_id):
    """deleted -> back where it was (a product that was on sale comes back delisted)."""
    return _transition(product_id, do_restore)


@blp.route("/products/<product_id>/timeline", methods=["GET"])
@requires()
@blp.arguments(PageArgs, location="query")
@blp.response(200, TimelinePage)
def product_timeline(args, product_id):
    """Every transition and edit, oldest first: who, when, why. Only the product's shop staff and
    platform roles (admin, reviewer, service); anyone else gets 404."""
    with current_db().Session() as session:
        ctx = _ctx(session)
        not_found_unless(sees_review_history(ctx.principal, _load(ctx, product_id)), "product")
        stmt = sa.select(TimelineEntry).where(TimelineEntry.product_id == product_id)
        return paginate(session, stmt, [TimelineEntry.id], args["limit"], args.get("cursor"), descending=False)


# Bulk ------------------------------------------------------------------------------------------
def _bulk(product_ids: list[str], act) -> dict:
    """Each product in its own transaction; each result reported, a failure stops nothing."""
    results = []
    for pid in dict.fromkeys(product_ids):
        try:
            with current_db().uow() as uow:
                ctx = _ctx(uow.session)
                status = act(ctx, uow, pid)
                uow.commit()
            results.append({"product_id": pid, "ok": True, "status": status, "error": None})
        except Problem as exc:
            results.append({"product_id": pid, "ok": False, "status": None,
                            "error": {"status": exc.status, "title": exc.title, "detail": exc.detail}})
        except DomainError as exc:
            problem = exc.problem(exc.detail, exc.errors)
            results.append({"product_id": pid, "ok": False, "status": None,
                            "error": {"status": problem.status, "title": problem.title, "detail": problem.detail,
                                      "errors": exc.errors}})
    ok = sum(1 for r in results if r["ok"])
    return {"succeeded": ok, "failed": len(results) - ok, "results": results}


@blp.route("/products/bulk/delist", methods=["POST"])
@requires("ops", "reviewer", "admin")
@idempotent()
@blp.arguments(BulkDelistIn)
@blp.response(200, BulkOut)
def bulk_delist(body):
    """Delist many products at once (e.g. end of season); each result reported."""
    def act(ctx, uow, pid):
        product = _delist_target(ctx, pid)
        do_delist(ctx, uow, product, body["reason"], body.get("note"))
        return domain.DELISTED

    return _bulk(body["product_ids"], act)


@blp.route("/products/bulk/relist", methods=["POST"])
@requires("ops")
@idempotent()
@blp.arguments(BulkIds)
@blp.response(200, BulkOut)
def bulk_relist(body):
    """Relist many delisted products at once; violations are refused per item (409)."""
    def act(ctx, uow, pid):
        do_relist(ctx, uow, _load_own(ctx, pid))
        return domain.LISTED

    return _bulk(body["product_ids"], act)


# Review ----------------------------------------------------------------------------------------
@blp.route("/review-queue", methods=["GET"])
@requires("reviewer", "admin")
@blp.arguments(ReviewQueueArgs, location="query")
@blp.response(200, ReviewPage)
def review_queue(args):
    """The review queue.

    Products waiting for review, oldest submission first, with the scan's findings (run now,
    against today's word list), the due time (submission + 24 h) and an overdue flag."""
    with current_db().Session() as session:
        ctx = _ctx(session)
        tree = operations.load_tree(session)
        lexicon = operations.load_lexicon(session)
        stmt = sa.select(Product).where(Product.status == domain.PENDING)
        if args.get("overdue") is True:
            stmt = stmt.where(Product.review_due_at < ctx.now)
        elif args.get("overdue") is False:
            stmt = stmt.where(Product.review_due_at >= ctx.now)
        if args.get("shop_id"):
            stmt = stmt.where(Product.shop_id == args["shop_id"])
        if args.get("category_id"):
            stmt = stmt.where(Product.category_id.in_(tree.subtree(args["category_id"])))

        def item(product):
            findings = domain.scan_product(operations.product_draft(product), tree, lexicon, ctx.rules)
            view = _view(ctx, product, tree, findings)
            view["overdue"] = view["review_overdue"]
            return view

        return paginate(session, stmt, [Product.submitted_at, Product.id], args["limit"], args.get("cursor"),
                        descending=False, to_item=item)


@blp.route("/compliance/scan", methods=["POST"])
@requires("ops", "reviewer", "admin")
@blp.arguments(ScanIn(partial=True))
@blp.response(200, ScanOut)
def compliance_scan(body):
    """Dry-run the compliance scan on a product body without saving anything."""
    with current_db().Session() as session:
        ctx = _ctx(session)
        tree = operations.load_tree(session)
        findings = domain.scan_product(body, tree, operations.load_lexicon(session), ctx.rules)
        return {"passed": not domain.errors_of(findings),
                "attribute_completeness": domain.attribute_completeness(tree, body.get("category_id"),
                                                                        body.get("attributes")),
                "findings": [f.to_dict() for f in findings]}


# SKUs (read by orders and other services) ------------------------------------------------------
def _sku_shop(requested: str | None) -> str:
    shop = requested or own_shop(current_scope())
    if not shop:
        raise UnprocessableEntity("shop_id is required", {"shop_id": ["Missing data for required field."]})
    return shop


def _visible_skus(session: Session, scope: Scope, shop_id: str, codes: list[str]) -> dict[str, dict]:
    rows = session.execute(
        sa.select(Sku, Product).join(Product, Sku.product_id == Product.id)
        .where(Sku.shop_id == shop_id, Sku.sku_code.in_(codes))
    ).all()
    return {sku.sku_code: operations.sku_view(product, sku) for sku, product in rows if can_read(scope, product)}


@blp.route("/skus/<sku_code>", methods=["GET"])
@requires()
@blp.arguments(SkuArgs, location="query")
@blp.response(200, SkuView)
def get_sku(args, sku_code):
    """One SKU of a shop, as orders reads it.

    sellable is true only when the product is listed; price_fen is what a buyer pays (promo if
    set, else list). Merchant staff of another shop and buyers see listed products' SKUs only."""
    shop_id = _sku_shop(args.get("shop_id"))
    with current_db().Session() as session:
        found = _visible_skus(session, current_scope(), shop_id, [sku_code])
    not_found_unless(sku_code in found, "SKU")
    return found[sku_code]


@blp.route("/skus/batch", methods=["POST"])
@requires()
@blp.arguments(SkuBatchIn)
@blp.response(200, SkuBatchOut)
def sku_batch(body):
    """Many SKUs of one shop at once.

    {items, missing}; missing also lists SKUs you may not see."""
    shop_id = _sku_shop(body.get("shop_id"))
    codes = list(dict.fromkeys(body["sku_codes"]))
    with current_db().Session() as session:
        found = _visible_skus(session, current_scope(), shop_id, codes)
    return {"items": [found[c] for c in codes if c in found], "missing": [c for c in codes if c not in found]}


# Categories ------------------------------------------------------------------------------------
def _category_view(tree: domain.CategoryTree, cid: str) -> dict:
    node = tree.get(cid)
    return {
        "category_id": node.id, "parent_id": node.parent_id, "name": node.name, "path": tree.path(cid),
        "is_leaf": tree.is_leaf(cid),
        "attributes": [{"name": a.name, "type": a.type, "required": a.required, "options": list(a.options),
                        "declared_in": a.category_id} for a in tree.attributes(cid)],
    }


def _category_tree_view(tree: domain.CategoryTree, cid: str) -> dict:
    view = _category_view(tree, cid)
    view["children"] = [_category_tree_view(tree, c) for c in sorted(tree.children.get(cid, []))]
    return view


@blp.route("/categories", methods=["GET"])
@requires()
@blp.arguments(CategoryListArgs, location="query")
@blp.response(200, CategoryPage)
def list_categories(args):
    """Categories (flat), each with its path, leaf flag and effective attributes."""
    with current_db().Session() as session:
        tree = operations.load_tree(session)
        stmt = sa.select(Category)
        if args.get("parent_id") == "root":
            stmt = stmt.where(Category.parent_id.is_(None))
        elif args.get("parent_id"):
            stmt = stmt.where(Category.parent_id == args["parent_id"])
        return paginate(session, stmt, [Category.id], args["limit"], args.get("cursor"), descending=False,
                        to_item=lambda c: _category_view(tree, c.id))


@blp.route("/categories/tree", methods=["GET"])
@requires()
@blp.response(200, CategoryPage)
def category_tree():
    """The whole tree, nested (roots in `items`, each with `children`)."""
    with current_db().Session() as session:
        tree = operations.load_tree(session)
    return {"items": [_category_tree_view(tree, c) for c in sorted(tree.children.get(None, []))],
            "next_cursor": None}


@blp.route("/categories/<category_id>", methods=["GET"])
@requires()
@blp.response(200, CategoryOut)
def get_category(category_id):
    """One category with its path, leaf flag and effective attributes."""
    with current_db().Session() as session:
        tree = operations.load_tree(session)
    not_found_unless(tree.get(category_id) is not None, "category")
    return _category_view(tree, category_id)


def _check_attributes(tree: domain.CategoryTree, category_id: str | None, parent_id: str | None,
                      attrs: list[dict]) -> None:
    inherited = tree.attributes(parent_id) if parent_id else []
    errors = domain.validate_attribute_defs(attrs, inherited)
    if category_id:
        names = {a["name"] for a in attrs}
        for cid in tree.subtree(category_id)[1:]:
            for a in tree.get(cid).attributes:
                if a.name in names:
                    errors.setdefault("attributes", []).append(
                        f"{a.name!r} is already declared by the subcategory {' > '.join(tree.path(cid))}")
    if errors:
        raise UnprocessableEntity("the attributes are not valid", errors)


def _sibling_name_free(tree: domain.CategoryTree, parent_id: str | None, name: str, exclude: str | None) -> None:
    for cid in tree.children.get(parent_id, []):
        if cid != exclude and tree.get(cid).name == name:
            raise Conflict(f"{name!r} already exists here", {"name": ["Already exists under this parent."]})


def _set_attributes(session: Session, category: Category, attrs: list[dict]) -> None:
    category.attributes.clear()
    session.flush()
    for i, a in enumerate(attrs):
        category.attributes.append(CategoryAttribute(name=a["name"].strip(), type=a["type"],
                                                     required=a.get("required", False),
                                                     options=list(a.get("options") or []), position=i))


@blp.route("/categories", methods=["POST"])
@requires("admin")
@idempotent()
@blp.arguments(CategoryIn)
@blp.response(201, CategoryOut)
def create_category(body):
    """Add a category with its typed attributes.

    Under parent_id (an existing category, else 422), or a root. A category that holds products cannot get children (products
    live in leaf categories only): 409."""
    with current_db().uow() as uow:
        session = uow.session
        now = current_config().clock.now()
        tree = operations.load_tree(session)
        parent_id = body.get("parent_id")
        # `is not None`: every given id must exist (an empty one slipped past a truthiness check
        # and broke the foreign key: a 500)
        if parent_id is not None and tree.get(parent_id) is None:
            raise UnprocessableEntity("no such parent category", {"parent_id": ["Unknown category."]})
        if parent_id and session.execute(
                sa.select(sa.func.count()).select_from(Product).where(Product.category_id == parent_id)).scalar():
            raise Conflict("the parent category holds products; products live in leaf categories only",
                           {"parent_id": ["Holds products."]})
        _sibling_name_free(tree, parent_id, body["name"].strip(), None)
        _check_attributes(tree, None, parent_id, body["attributes"])
        category = Category(id=domain.new_category_id(now), parent_id=parent_id, name=body["name"].strip(),
                            created_at=now, updated_at=now)
        session.add(category)
        session.flush()
        _set_attributes(session, category, body["attributes"])
        uow.commit()
        return _category_view(operations.load_tree(session), category.id)


@blp.route("/categories/<category_id>", methods=["PUT", "PATCH"])
@requires("admin")
@blp.arguments(CategoryPatch)
@blp.response(200, CategoryOut)
def update_category(body, category_id):
    """Rename a category or replace its own attributes.

    Existing products are checked against the new attributes at their next edit or submission."""
    with current_db().uow() as uow:
        session = uow.session
        tree = operations.load_tree(session)
        category = session.get(Category, category_id)
        not_found_unless(category is not None, "category")
        if "name" in body:
            _sibling_name_free(tree, category.parent_id, body["name"].strip(), category_id)
            category.name = body["name"].strip()
        if "attributes" in body:
            _check_attributes(tree, category_id, category.parent_id, body["attributes"])
            _set_attributes(session, category, body["attributes"])
        category.updated_at = current_config().clock.now()
        uow.commit()
        return _category_view(operations.load_tree(session), category_id)


@blp.route("/categories/<category_id>", methods=["DELETE"])
@requires("admin")
@blp.response(204)
def delete_category(category_id):
    """Remove an empty category.

    One with subcategories or products (any status, until purged) answers 409."""
    with current_db().uow() as uow:
        session = uow.session
        category = session.get(Category, category_id)
        not_found_unless(category is not None, "category")
        if session.execute(sa.select(sa.func.count()).select_from(Category)
                           .where(Category.parent_id == category_id)).scalar():
            raise Conflict("the category has subcategories", {"category_id": ["Has subcategories."]})
        if session.execute(sa.select(sa.func.count()).select_from(Product)
                           .where(Product.category_id == category_id)).scalar():
            raise Conflict("the category holds products", {"category_id": ["Holds products."]})
        session.delete(category)
        uow.commit()
    return ""


# Banned words ----------------------------------------------------------------------------------
@blp.route("/banned-words", methods=["GET"])
@requires()
@blp.arguments(BannedWordArgs, location="query")
@blp.response(200, BannedWordPage)
def list_banned_words(args):
    """The advertising-law word list (kind=banned) and its exemptions (kind=exemption)."""
    with current_db().Session() as session:
        stmt = sa.select(BannedWord)
        if args.get("kind"):
            stmt = stmt.where(BannedWord.kind == args["kind"])
        return paginate(session, stmt, [BannedWord.word], args["limit"], args.get("cursor"), descending=False)


@blp.route("/banned-words", methods=["POST"])
@requires("admin")
@idempotent()
@blp.arguments(BannedWordIn)
@blp.response(201, BannedWordOut)
def add_banned_word(body):
    """Ban a word, or exempt one.

    An exemption is a word that contains a banned one but claims nothing (最近 contains 最).
    409 if the word is already listed."""
    word = body["word"].strip()
    if not word:
        raise UnprocessableEntity("the word is empty", {"word": ["Must not be blank."]})
    with current_db().uow() as uow:
        row = BannedWord(word=word, kind=body["kind"], note=body.get("note"), created_by=current_principal().sub,
                         created_at=current_config().clock.now())
        uow.session.add(row)
        try:
            uow.commit()
        except sa.exc.IntegrityError as exc:
            if not is_unique_violation(exc):
                raise
            raise Conflict(f"{word!r} is already on the list", {"word": ["Already listed."]})
        return row


@blp.route("/banned-words/<word>", methods=["DELETE"])
@requires("admin")
@blp.response(204)
def remove_banned_word(word):
    """Take a word off the list (banned or exemption)."""
    with current_db().uow() as uow:
        deleted = uow.session.execute(sa.delete(BannedWord).where(BannedWord.word == word)).rowcount
        if not deleted:
            raise NotFound("no such word on the list")
        uow.commit()
    return ""

