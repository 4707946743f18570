"""A shop's audit rules, under /audit-rules: read them (the seed defaults until the shop sets its
own) and change them."""

from __future__ import annotations

from ecom_common.auth import requires, shop_for_read, shop_for_write
from ecom_common.http import Blueprint
from ecom_common.usecase import use_case

from .. import operations
from ..settings import Settings
from .render import rules_out
from .schemas import AuditRulesOut, AuditRulesPatch, ShopArgs

blp = Blueprint("audit_rules", __name__)


@blp.route("/audit-rules", methods=["GET"])
@requires("ops", "admin")
@blp.arguments(ShopArgs, location="query")
@blp.response(200, AuditRulesOut)
def get_audit_rules(args):
    """The shop's audit rules (the seed defaults until the shop sets its own)."""
    shop_id = shop_for_read(args.get("shop_id"))
    with use_case(Settings) as ctx:
        return rules_out(operations.audit_rules(ctx, shop_id))


@blp.route("/audit-rules", methods=["PUT"])
@requires("ops", "admin")
@blp.arguments(ShopArgs, location="query")
@blp.arguments(AuditRulesPatch)
@blp.response(200, AuditRulesOut)
def put_audit_rules(args, body):
    """Set the shop's audit rules. Fields left out keep their current value."""
    shop_id = shop_for_write(args.get("shop_id"))
    with use_case(Settings) as ctx:
        return rules_out(operations.set_audit_rules(ctx, shop_id, body))
