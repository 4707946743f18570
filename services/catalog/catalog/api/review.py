"""Review: the reviewers' queue of products waiting for a decision, and the compliance scan run dry
on a product body (approve and reject are transitions, in transitions.py)."""

from __future__ import annotations

import sqlalchemy as sa
from marshmallow import Schema, fields

from ecom_common.auth import requires
from ecom_common.http import Blueprint
from ecom_common.pagination import PageArgs, paginate
from ecom_common.schemas import page_of
from ecom_common.usecase import use_case

from .. import compliance, domain, operations, store
from ..models import Product
from ..settings import Settings
from .context import view_for
from .schemas import FindingSchema, ImageSchema, ProductIn, ProductOut, SkuIn, VideoSchema

blp = Blueprint("review", __name__)


class ReviewItemOut(ProductOut):
    overdue = fields.Bool()


ReviewItemPage = page_of(ReviewItemOut)


class ReviewQueueArgs(PageArgs):
    overdue = fields.Bool(metadata={"description": "only items past their review due time"})
    shop_id = fields.Str()
    category_id = fields.Str()


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


class ScanOut(Schema):
    passed = fields.Bool()
    attribute_completeness = fields.Int()
    findings = fields.List(fields.Nested(FindingSchema))


@blp.route("/review-queue", methods=["GET"])
@requires("reviewer", "admin")
@blp.arguments(ReviewQueueArgs, location="query")
@blp.response(200, ReviewItemPage)
def review_queue(args):
    """The review queue.

    Products waiting for review, oldest submission first, with the scan's findings (run now,
    against today's word list), the due time (submission + 24 h) and an overdue flag."""
    with use_case(Settings) as ctx:
        tree = store.load_tree(ctx.session)
        lexicon = store.load_lexicon(ctx.session)
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
            findings = compliance.scan_product(store.product_draft(product), tree, lexicon, ctx.settings)
            view = view_for(ctx, product, tree, findings)
            view["overdue"] = view["review_overdue"]
            return view

        return paginate(
            ctx.session,
            stmt,
            [Product.submitted_at, Product.id],
            args["limit"],
            args.get("cursor"),
            descending=False,
            to_item=item,
        )


@blp.route("/compliance/scan", methods=["POST"])
@requires("ops", "reviewer", "admin")
@blp.arguments(ScanIn(partial=True))
@blp.response(200, ScanOut)
def compliance_scan(body):
    """Dry-run the compliance scan on a product body without saving anything."""
    with use_case(Settings) as ctx:
        result = operations.scan(ctx, body)
    return {
        "passed": not compliance.errors_of(result.findings),
        "attribute_completeness": result.attribute_completeness,
        "findings": [f.to_dict() for f in result.findings],
    }
