"""Categories: the tree products live in (products in leaf categories only), each category with its
typed attributes, which its subcategories inherit. Admins change it; everyone reads it."""

from __future__ import annotations

import sqlalchemy as sa
from marshmallow import Schema, fields, validate

from ecom_common.auth import not_found_unless, requires
from ecom_common.http import Blueprint
from ecom_common.idempotency import idempotent
from ecom_common.pagination import PageArgs, paginate
from ecom_common.schemas import BodySchema, page_of
from ecom_common.usecase import use_case

from .. import domain, operations, store
from ..models import Category
from ..settings import Settings

blp = Blueprint("categories", __name__)


class AttributeIn(BodySchema):
    name = fields.Str(required=True, validate=validate.Length(min=1, max=60))
    type = fields.Str(required=True, validate=validate.OneOf(domain.ATTRIBUTE_TYPES))
    required = fields.Bool(load_default=False)
    options = fields.List(fields.Str(validate=validate.Length(min=1, max=60)), load_default=list)


class AttributeOut(AttributeIn):
    declared_in = fields.Str(metadata={"description": "the category that declares it (leaves inherit)"})


class CategoryIn(BodySchema):
    name = fields.Str(required=True, validate=validate.Length(min=1, max=60))
    parent_id = fields.Str(
        allow_none=True,
        validate=validate.Length(min=1, max=40),
        metadata={"description": "null or absent: a root category"},
    )
    attributes = fields.List(fields.Nested(AttributeIn), load_default=list)


class CategoryPatch(BodySchema):
    name = fields.Str(validate=validate.Length(min=1, max=60))
    attributes = fields.List(
        fields.Nested(AttributeIn), metadata={"description": "replaces the category's own attributes"}
    )


class CategoryOut(Schema):
    category_id = fields.Str()
    parent_id = fields.Str(allow_none=True)
    name = fields.Str()
    path = fields.List(fields.Str())
    is_leaf = fields.Bool()
    attributes = fields.List(fields.Nested(AttributeOut), metadata={"description": "inherited ones first"})
    children = fields.List(fields.Dict(), metadata={"description": "only in /categories/tree"})


CategoryPage = page_of(CategoryOut)


class CategoryListArgs(PageArgs):
    parent_id = fields.Str(metadata={"description": "children of this category; 'root' for the top level"})


def _category_view(tree: domain.CategoryTree, cid: str) -> dict:
    node = tree.get(cid)
    return {
        "category_id": node.id,
        "parent_id": node.parent_id,
        "name": node.name,
        "path": tree.path(cid),
        "is_leaf": tree.is_leaf(cid),
        "attributes": [
            {
                "name": a.name,
                "type": a.type,
                "required": a.required,
                "options": list(a.options),
                "declared_in": a.category_id,
            }
            for a in tree.attributes(cid)
        ],
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
    with use_case(Settings) as ctx:
        tree = store.load_tree(ctx.session)
        stmt = sa.select(Category)
        if args.get("parent_id") == "root":
            stmt = stmt.where(Category.parent_id.is_(None))
        elif args.get("parent_id"):
            stmt = stmt.where(Category.parent_id == args["parent_id"])
        return paginate(
            ctx.session,
            stmt,
            [Category.id],
            args["limit"],
            args.get("cursor"),
            descending=False,
            to_item=lambda c: _category_view(tree, c.id),
        )


@blp.route("/categories/tree", methods=["GET"])
@requires()
@blp.response(200, CategoryPage)
def category_tree():
    """The whole tree, nested (roots in `items`, each with `children`)."""
    with use_case(Settings) as ctx:
        tree = store.load_tree(ctx.session)
    return {"items": [_category_tree_view(tree, c) for c in sorted(tree.children.get(None, []))], "next_cursor": None}


@blp.route("/categories/<category_id>", methods=["GET"])
@requires()
@blp.response(200, CategoryOut)
def get_category(category_id):
    """One category with its path, leaf flag and effective attributes."""
    with use_case(Settings) as ctx:
        tree = store.load_tree(ctx.session)
    not_found_unless(tree.get(category_id) is not None, "category")
    return _category_view(tree, category_id)


@blp.route("/categories", methods=["POST"])
@requires("admin")
@idempotent()
@blp.arguments(CategoryIn)
@blp.response(201, CategoryOut)
def create_category(body):
    """Add a category with its typed attributes.

    Under parent_id (an existing category, else 422), or a root. A category that holds products cannot get children
    (products
    live in leaf categories only): 409."""
    with use_case(Settings) as ctx:
        category_id = operations.create_category(
            ctx, body["name"], parent_id=body.get("parent_id"), attributes=body["attributes"]
        )
        return _category_view(store.load_tree(ctx.session), category_id)


@blp.route("/categories/<category_id>", methods=["PUT", "PATCH"])
@requires("admin")
@blp.arguments(CategoryPatch)
@blp.response(200, CategoryOut)
def update_category(body, category_id):
    """Rename a category or replace its own attributes.

    Existing products are checked against the new attributes at their next edit or submission."""
    with use_case(Settings) as ctx:
        operations.update_category(ctx, category_id, name=body.get("name"), attributes=body.get("attributes"))
        return _category_view(store.load_tree(ctx.session), category_id)


@blp.route("/categories/<category_id>", methods=["DELETE"])
@requires("admin")
@blp.response(204)
def delete_category(category_id):
    """Remove an empty category.

    One with subcategories or products (any status, until purged) answers 409."""
    with use_case(Settings) as ctx:
        operations.delete_category(ctx, category_id)
    return ""
