"""What every catalog view needs: the request's context, the products its caller may read or change,
the compliance scan as a gate (422) and a product as its caller may see it.

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
from datetime import datetime

from sqlalchemy.orm import Session

from ecom_common.auth import PLATFORM_ROLES, Principal, Scope, current_principal, current_scope, not_found_unless
from ecom_common.config import Config
from ecom_common.errors import Conflict, Forbidden, UnprocessableEntity
from ecom_common.http import current_config
from ecom_common.settings import settings_of

from .. import compliance, domain, operations
from ..models import Product
from ..settings import Settings


@dataclass
class Ctx:
    session: Session
    principal: Principal
    config: Config
    rules: Settings
    now: datetime

    @property
    def actor(self) -> str:
        return self.principal.sub


def make_ctx(session: Session) -> Ctx:
    """The request's caller, settings and time, over `session`."""
    config = current_config()
    return Ctx(session, current_principal(), config, settings_of(config, Settings), config.clock.now())


def own_shop(scope: Scope) -> str | None:
    """The shop whose every product (any status) this caller may change; None for platform roles
    and callers of no shop."""
    return None if scope.all_shops else scope.shop_id


def can_read(scope: Scope, product: Product) -> bool:
    """Listed products are public to every caller who may see anything (staff without a shop may
    not); the rest only within the caller's scope."""
    return not scope.nothing and (product.status == domain.LISTED or scope.allows(product.shop_id))


def load_visible(ctx: Ctx, product_id: str) -> Product:
    """A product the caller may read; 404 for any other."""
    product = ctx.session.get(Product, product_id)
    not_found_unless(product is not None and can_read(current_scope(), product), "product")
    return product


def load_own(ctx: Ctx, product_id: str) -> Product:
    """A product the caller (merchant ops) may change: their own shop's."""
    product = load_visible(ctx, product_id)
    if own_shop(current_scope()) != product.shop_id:
        raise Forbidden("you can only change your own shop's products")
    return product


def merchant_shop(requested: str | None = None) -> str:
    """The shop a merchant acts for: the one in their token (403 for anyone else)."""
    shop = own_shop(current_scope())
    if shop is None:
        raise Forbidden("only merchant staff with a shop_id in their token can do this")
    if requested and requested != shop:
        raise Forbidden("you can only act for your own shop")
    return shop


def compliance_problem(findings: list[compliance.Finding]) -> UnprocessableEntity:
    errs = compliance.errors_of(findings)
    return UnprocessableEntity(
        f"the product breaks {len(errs)} listing rule(s)",
        compliance.field_errors(errs),
        findings=[f.to_dict() for f in errs],
    )


def scan_or_422(ctx: Ctx, draft: dict, tree=None) -> list[compliance.Finding]:
    tree = tree or operations.load_tree(ctx.session)
    findings = compliance.scan_product(draft, tree, operations.load_lexicon(ctx.session), ctx.rules)
    if compliance.errors_of(findings):
        raise compliance_problem(findings)
    return findings


def codes_free_or_409(ctx: Ctx, shop_id: str, skus: list[dict], product_id: str | None) -> None:
    taken = operations.codes_taken(ctx.session, shop_id, [s["sku_code"] for s in skus], product_id)
    if taken:
        errors = {
            f"skus[{i}].sku_code": [f"sku_code_taken: another product of this shop uses {s['sku_code']!r}"]
            for i, s in enumerate(skus)
            if s["sku_code"] in taken
        }
        raise Conflict(f"SKU code(s) already used in this shop: {', '.join(taken)}", errors)


# The review trail names staff (who created, who reviewed) and carries reviewers' notes: the shop's
# and the platform's business, not a buyer's nor another shop's, who see a listed product without it.
REVIEW_FIELDS = (
    "created_by",
    "review_required",
    "submitted_at",
    "review_due_at",
    "review_overdue",
    "reviewed_at",
    "reviewed_by",
    "reject_reason",
)


# Who reads a product's review trail (staff ids, reject notes): the platform and the shop's product
# staff, through the one tenancy rule; buyers, finance and other shops see the listing without it.
REVIEW_TRAIL_ROLES = PLATFORM_ROLES | {"ops", "cs", "warehouse"}


def sees_review_history(p: Principal, product: Product) -> bool:
    return p.scope(REVIEW_TRAIL_ROLES).allows(product.shop_id)


def view_for(ctx: Ctx, product: Product, tree=None, findings=None) -> dict:
    """The product as ctx's caller may see it (ProductOut), with the findings of a scan run now
    unless `findings` are given."""
    tree = tree or operations.load_tree(ctx.session)
    view = operations.product_view(product, tree, ctx.now, ctx.rules)
    if not sees_review_history(ctx.principal, product):
        for name in REVIEW_FIELDS:
            del view[name]
    if findings is None:
        findings = compliance.scan_product(
            operations.product_draft(product), tree, operations.load_lexicon(ctx.session), ctx.rules
        )
    view["findings"] = [f.to_dict() for f in findings]
    return view
