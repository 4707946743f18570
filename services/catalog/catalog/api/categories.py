"""Categories: the tree products live in (products in leaf categories only), each category with its
typed attributes, which its subcategories inherit. Admins change it; everyone reads it."""

from __future__ import annotations

import sqlalchemy as sa
from marshmallow import Schema, fields, validate
from sqlalchemy.orm import Session

from ecom_common import ids
from ecom_common.auth import not_found_unless, requires
from ecom_common.errors import Conflict, UnprocessableEntity
from ecom_common.http import Blueprint, BodySchema, PageArgs, current_config, current_db, paginate
from ecom_common.idempotency import idempotent

from .. import domain, operations
from ..models import Category, CategoryAttribute, Product

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


class CategoryPage(Schema):
    items = fields.List(fields.Nested(CategoryOut))
    next_cursor = fields.Str(allow_none=True)


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
    with current_db().Session() as session:
        tree = operations.load_tree(session)
        stmt = sa.select(Category)
        if args.get("parent_id") == "root":
            stmt = stmt.where(Category.parent_id.is_(None))
        elif args.get("parent_id"):
            stmt = stmt.where(Category.parent_id == args["parent_id"])
        return paginate(
            session,
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
    with current_db().Session() as session:
        tree = operations.load_tree(session)
    return {"items": [_category_tree_view(tree, c) for c in sorted(tree.children.get(None, []))], "next_cursor": None}


@blp.route("/categories/<category_id>", methods=["GET"])
@requires()
@blp.response(200, CategoryOut)
def get_category(category_id):
    """One category with its path, leaf flag and effective attributes."""
    with current_db().Session() as session:
        tree = operations.load_tree(session)
    not_found_unless(tree.get(category_id) is not None, "category")
    return _category_view(tree, category_id)


def _check_attributes(
    tree: domain.CategoryTree, category_id: str | None, parent_id: str | None, attrs: list[dict]
) -> None:
    inherited = tree.attributes(parent_id) if parent_id else []
    errors = domain.validate_attribute_defs(attrs, inherited)
    if category_id:
        names = {a["name"] for a in attrs}
        for cid in tree.subtree(category_id)[1:]:
            for a in tree.get(cid).attributes:
                if a.name in names:
                    errors.setdefault("attributes", []).append(
                        f"{a.name!r} is already declared by the subcategory {' > '.join(tree.path(cid))}"
                    )
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
        category.attributes.append(
            CategoryAttribute(
                name=a["name"].strip(),
                type=a["type"],
                required=a.get("required", False),
                options=list(a.get("options") or []),
                position=i,
            )
        )


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
    with current_db().uow() as uow:
        session = uow.session
        now = current_config().clock.now()
        tree = operations.load_tree(session)
        parent_id = body.get("parent_id")
        # `is not None`: every given id must exist (an empty one slipped past a truthiness check
        # and broke the foreign key: a 500)
        if parent_id is not None and tree.get(parent_id) is None:
            raise UnprocessableEntity("no such parent category", {"parent_id": ["Unknown category."]})
        if (
            parent_id
            and session.execute(
                sa.select(sa.func.count()).select_from(Product).where(Product.category_id == parent_id)
            ).scalar()
        ):
            raise Conflict(
                "the parent category holds products; products live in leaf categories only",
                {"parent_id": ["Holds products."]},
            )
        _sibling_name_free(tree, parent_id, body["name"].strip(), None)
        _check_attributes(tree, None, parent_id, body["attributes"])
        category = Category(
            id=ids.new_id("CAT", now),
            parent_id=parent_id,
            name=body["name"].strip(),
            created_at=now,
            updated_at=now,
        )
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
        if session.execute(
            sa.select(sa.func.count()).select_from(Category).where(Category.parent_id == category_id)
        ).scalar():
            raise Conflict("the category has subcategories", {"category_id": ["Has subcategories."]})
        if session.execute(
            sa.select(sa.func.count()).select_from(Product).where(Product.category_id == category_id)
        ).scalar():
            raise Conflict("the category holds products", {"category_id": ["Holds products."]})
        session.delete(category)
        uow.commit()
    return ""
