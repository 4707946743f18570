"""商品: the shop's products, and the editor with the category's attribute form and catalog's
compliance findings live while typing (its dry-run scan), create and submit for review."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from ecom_common.errors import Problem

from .base import act, api, blp, get_or_none

DEFAULT_CATEGORY = "digital-phones"


@blp.get("/products")
def products():
    status = request.args.get("status") or None
    answer = get_or_none("catalog", "/api/v1/products", **({"status": status} if status else {}), limit=100)
    return render_template("products.html", items=answer["items"] if answer else [], status=status or "")


def _categories() -> list[dict]:
    answer = get_or_none("catalog", "/api/v1/categories", limit=200)
    return [c for c in (answer["items"] if answer else []) if c.get("is_leaf")]


def _category(category_id: str) -> dict | None:
    return get_or_none("catalog", f"/api/v1/categories/{category_id}")


def product_body(form: Any, category: dict | None) -> dict:
    """The catalog's product body from the editor's fields (attributes as the category declares them)."""
    attributes: dict[str, Any] = {}
    spec: dict[str, Any] = {}
    for attr in (category or {}).get("attributes", []):
        name = attr["name"]
        if attr["type"] == "multi_enum":
            values = form.getlist(f"attr:{name}")
            if values:
                attributes[name] = values
                if len(values) == 1:
                    spec[name] = values[0]
        elif form.get(f"attr:{name}", "").strip():
            raw = form.get(f"attr:{name}").strip()
            if attr["type"] == "number":
                try:
                    attributes[name] = float(raw) if "." in raw else int(raw)
                except ValueError:
                    attributes[name] = raw
            else:
                attributes[name] = raw
    body: dict[str, Any] = {
        "category_id": form.get("category_id", DEFAULT_CATEGORY),
        "title": form.get("title", ""),
        "brand": form.get("brand") or None,
        "description": form.get("description") or None,
        "attributes": attributes,
        "images": [{"url": form["image_url"], "width": 800, "height": 800}] if form.get("image_url") else [],
    }
    sku: dict[str, Any] = {"sku_code": form.get("sku_code", ""), "spec": spec}
    try:
        sku["list_price_fen"] = round(float(form.get("price_yuan") or 0) * 100)
    except ValueError:
        sku["list_price_fen"] = 0
    if form.get("weight_g", "").isdigit():
        sku["weight_g"] = int(form["weight_g"])
    body["skus"] = [sku]
    return body


@blp.get("/products/new")
def product_new():
    category_id = request.args.get("category_id", DEFAULT_CATEGORY)
    return render_template(
        "product_edit.html", categories=_categories(), category=_category(category_id), form=MultiDict(), findings=None
    )


@blp.post("/products/scan")
def product_scan():
    """The findings of catalog's dry-run scan for what is typed now (htmx swaps them in)."""
    category = _category(request.form.get("category_id", DEFAULT_CATEGORY))
    body = product_body(request.form, category)
    body["skus"] = [s for s in body["skus"] if s["sku_code"]]
    try:
        answer = api("catalog", "POST", "/api/v1/compliance/scan", json=body)
    except Problem as exc:
        return render_template("_findings.html", findings=None, error=exc.detail)
    if not answer.ok:
        return render_template("_findings.html", findings=None, error=answer.detail)
    return render_template("_findings.html", findings=answer.body.get("findings", []), scan=answer.body)


@blp.post("/products/new")
def product_create():
    category = _category(request.form.get("category_id", DEFAULT_CATEGORY))
    body = product_body(request.form, category)
    try:
        answer = api("catalog", "POST", "/api/v1/products", json=body)
    except Problem as exc:
        flash(_("The service is unavailable: %(detail)s", detail=exc.detail), "error")
        answer = None
    if answer is None or not answer.ok:
        findings = (answer.body or {}).get("findings") if answer is not None and isinstance(answer.body, dict) else None
        if answer is not None:
            errors = (answer.body or {}).get("errors") if isinstance(answer.body, dict) else None
            flash(_("Not saved: %(detail)s", detail=answer.detail) + (f" {errors}" if errors else ""), "error")
        return (
            render_template(
                "product_edit.html", categories=_categories(), category=category, form=request.form, findings=findings
            ),
            422,
        )
    product_id = answer.body["product_id"]
    if request.form.get("action") == "submit":
        act(
            "catalog",
            f"/api/v1/products/{product_id}/submit",
            {},
            _("Product %(id)s submitted for review.", id=product_id),
        )
    else:
        flash(_("Product %(id)s saved as a draft.", id=product_id), "success")
    return redirect(url_for("console.products"))
