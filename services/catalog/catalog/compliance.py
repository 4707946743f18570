"""catalog's compliance scan: what a product must satisfy to be saved, submitted or approved.
No Flask, no SQL: plain functions over a product as plain data (store.product_draft).

The scan returns *findings* (field, rule, offending text, message). Findings of severity "error" block
a create, an edit or a submission (the API answers 422 naming each one); "warning"s are advice shown
to the reviewer and to ops (too few detail images, video length, attribute completeness).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from .domain import ENUM, MULTI_ENUM, NUMBER, TEXT, AttributeDef, CategoryTree
from .settings import Settings

# Findings ------------------------------------------------------------------------------------
ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class Finding:
    field: str  # e.g. "title", "images[0]", "skus[1].promo_price_fen", "attributes.颜色"
    rule: str  # e.g. "banned_word", "title_too_long"
    text: str  # the offending text or value, as given
    message: str
    severity: str = ERROR

    def to_dict(self) -> dict[str, str]:
        return {
            "field": self.field,
            "rule": self.rule,
            "text": self.text,
            "message": self.message,
            "severity": self.severity,
        }

    def as_error_message(self) -> str:
        return f"{self.rule}: {self.message} ({self.text!r})"


def errors_of(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity == ERROR]


def field_errors(findings: list[Finding]) -> dict[str, list[str]]:
    """The problem+json `errors` map: field -> messages, each naming the rule and offending text."""
    out: dict[str, list[str]] = {}
    for f in errors_of(findings):
        out.setdefault(f.field, []).append(f.as_error_message())
    return out


# Title ---------------------------------------------------------------------------------------
def title_length(title: str) -> int:
    """Characters as a shopper sees them: a CJK character counts as one (not 3 UTF-8 bytes nor 2
    GBK bytes), so does a Latin letter, a digit or a space. NFC first, so a decomposed accent is not
    counted twice."""
    return len(unicodedata.normalize("NFC", title.strip()))


def scan_title(title: str | None, settings: Settings) -> list[Finding]:
    if title is None or not title.strip():
        return [Finding("title", "title_required", title or "", "the title must not be empty")]
    n = title_length(title)
    if n > settings.title_max_chars:
        return [
            Finding(
                "title",
                "title_too_long",
                title,
                f"the title has {n} characters, at most {settings.title_max_chars} are allowed",
            )
        ]
    return []


# Banned words --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Lexicon:
    """Banned absolute/advertising words (广告法 第九条) and the exemptions that contain them but are
    not claims (最近 contains 最). Matching is case-insensitive for Latin letters."""

    banned: tuple[str, ...]
    exemptions: tuple[str, ...] = ()

    def find(self, text: str) -> list[tuple[int, int, str]]:
        """(start, end, word) of each banned occurrence not covered by an exemption and not inside
        a longer banned occurrence (全网第一 is reported once, not also as 第一)."""
        if not text:
            return []
        folded = text.casefold()
        covered: list[tuple[int, int]] = []
        for ex in self.exemptions:
            ex_f = ex.casefold()
            if ex_f:
                for m in re.finditer(re.escape(ex_f), folded):
                    covered.append((m.start(), m.end()))
        hits: list[tuple[int, int, str]] = []
        for word in self.banned:
            w = word.casefold()
            if not w:
                continue
            start = folded.find(w)
            while start != -1:
                end = start + len(w)
                if not any(cs <= start and end <= ce for cs, ce in covered):
                    hits.append((start, end, word))
                start = folded.find(w, start + 1)
        kept = [
            h
            for h in hits
            if not any(o is not h and o[0] <= h[0] and h[1] <= o[1] and (o[1] - o[0]) > (h[1] - h[0]) for o in hits)
        ]
        return sorted(set(kept))


def scan_words(field_name: str, text: str | None, lexicon: Lexicon) -> list[Finding]:
    text = text or ""
    findings: list[Finding] = []
    seen: set[str] = set()
    for start, end, word in lexicon.find(text):
        if word in seen:
            continue
        seen.add(word)
        snippet = text[max(0, start - 6) : end + 6]
        findings.append(
            Finding(
                field_name,
                "banned_word",
                text[start:end],
                f"{word!r} is an absolute/advertising word not allowed (in …{snippet}…)",
            )
        )
    return findings


# Images and video ----------------------------------------------------------------------------
def scan_images(images: list[dict[str, Any]] | None, settings: Settings) -> list[Finding]:
    images = images or []
    if not images:
        return [Finding("images", "image_required", "", "at least one image (the main image) is required")]
    out: list[Finding] = []
    main = images[0]
    w, h = main.get("width"), main.get("height")
    url = str(main.get("url", ""))
    m = settings.main_image_min_px
    if w is None or h is None:
        out.append(
            Finding("images[0]", "main_image_size", url, f"give the main image's width and height (at least {m}x{m})")
        )
    else:
        if w < m or h < m:
            out.append(Finding("images[0]", "main_image_size", f"{w}x{h}", f"the main image must be at least {m}x{m}"))
        if w != h:
            out.append(Finding("images[0]", "main_image_square", f"{w}x{h}", "the main image must be square"))
    for i, img in enumerate(images[1:], start=1):
        width = img.get("width")
        if width is not None and width > settings.detail_image_max_width_px:
            out.append(
                Finding(
                    f"images[{i}]",
                    "detail_image_width",
                    f"{width}px",
                    f"detail images are at most {settings.detail_image_max_width_px} px wide",
                )
            )
    details = len(images) - 1
    if details < settings.min_detail_images:
        out.append(
            Finding(
                "images",
                "detail_images_few",
                str(details),
                f"{details} detail image(s); at least {settings.min_detail_images} are recommended",
                WARNING,
            )
        )
    return out


def scan_video(video: dict[str, Any] | None, settings: Settings) -> list[Finding]:
    if not video or video.get("duration_s") is None:
        return []
    d = video["duration_s"]
    if d < settings.video_min_seconds or d > settings.video_max_seconds:
        return [
            Finding(
                "video.duration_s",
                "video_length",
                f"{d}s",
                f"a product video should last {settings.video_min_seconds}-{settings.video_max_seconds} s",
                WARNING,
            )
        ]
    return []


# Prices --------------------------------------------------------------------------------------
def scan_prices(skus: list[dict[str, Any]] | None) -> list[Finding]:
    out: list[Finding] = []
    for i, sku in enumerate(skus or []):
        lp, pp, mp = sku.get("list_price_fen"), sku.get("promo_price_fen"), sku.get("member_price_fen")
        for name, value in (("list_price_fen", lp), ("promo_price_fen", pp), ("member_price_fen", mp)):
            if value is not None and value <= 0:
                out.append(Finding(f"skus[{i}].{name}", "price_positive", str(value), "every price must be positive"))
        if lp is None or lp <= 0:
            continue
        if pp is not None and pp > 0 and pp >= lp:
            out.append(
                Finding(
                    f"skus[{i}].promo_price_fen",
                    "promo_below_list",
                    str(pp),
                    f"the promotional price must be below the list price {lp}",
                )
            )
        if mp is not None and mp > 0 and mp > lp:
            out.append(
                Finding(
                    f"skus[{i}].member_price_fen",
                    "member_not_above_list",
                    str(mp),
                    f"the member price must not be above the list price {lp}",
                )
            )
    return out


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_attribute_value(defn: AttributeDef, value: Any, field_name: str) -> list[Finding]:
    shown = str(value)
    if defn.type == TEXT:
        if not isinstance(value, str) or not value.strip():
            return [Finding(field_name, "attribute_type", shown, f"{defn.name} must be non-empty text")]
    elif defn.type == NUMBER:
        if not _is_number(value):
            return [Finding(field_name, "attribute_type", shown, f"{defn.name} must be a number")]
    elif defn.type == ENUM:
        if not isinstance(value, str):
            return [Finding(field_name, "attribute_type", shown, f"{defn.name} takes one of its allowed values")]
        if value not in defn.options:
            return [
                Finding(field_name, "attribute_value", value, f"{defn.name} must be one of: {', '.join(defn.options)}")
            ]
    elif defn.type == MULTI_ENUM:
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            return [Finding(field_name, "attribute_type", shown, f"{defn.name} takes a non-empty list of values")]
        bad = [v for v in value if v not in defn.options]
        if bad:
            return [
                Finding(
                    field_name,
                    "attribute_value",
                    ", ".join(bad),
                    f"{defn.name} must be chosen from: {', '.join(defn.options)}",
                )
            ]
        if len(set(value)) != len(value):
            return [Finding(field_name, "attribute_value", shown, f"{defn.name} lists a value twice")]
    return []


def scan_category(
    tree: CategoryTree, category_id: str | None, attributes: dict[str, Any] | None, skus: list[dict[str, Any]] | None
) -> list[Finding]:
    """Leaf-only placement, every required attribute present and valid, no attribute the category
    does not know (服装类目下填写电器属性), and SKU spec values that fit the category."""
    if not category_id or tree.get(category_id) is None:
        return [Finding("category_id", "category_unknown", str(category_id or ""), "no such category")]
    if not tree.is_leaf(category_id):
        path = " > ".join(tree.path(category_id))
        return [Finding("category_id", "category_not_leaf", path, "a product goes into a leaf category")]
    defs = {a.name: a for a in tree.attributes(category_id)}
    attributes = attributes or {}
    out: list[Finding] = []
    for name, value in attributes.items():
        defn = defs.get(name)
        if defn is None:
            out.append(
                Finding(
                    f"attributes.{name}",
                    "attribute_unknown",
                    name,
                    f"{' > '.join(tree.path(category_id))} has no attribute {name!r}",
                )
            )
        else:
            out.extend(check_attribute_value(defn, value, f"attributes.{name}"))
    for name, defn in defs.items():
        if defn.required and name not in attributes:
            out.append(
                Finding(f"attributes.{name}", "attribute_required", name, f"{name} is required in this category")
            )
    for i, sku in enumerate(skus or []):
        for name, value in (sku.get("spec") or {}).items():
            fname = f"skus[{i}].spec.{name}"
            defn = defs.get(name)
            if defn is None:
                out.append(
                    Finding(
                        fname,
                        "attribute_unknown",
                        name,
                        f"{' > '.join(tree.path(category_id))} has no attribute {name!r}",
                    )
                )
                continue
            # A SKU is one point of a spec: one value, also for a multi-enum attribute.
            single = AttributeDef(defn.name, ENUM if defn.type == MULTI_ENUM else defn.type, options=defn.options)
            out.extend(check_attribute_value(single, value, fname))
    return out


def attribute_completeness(tree: CategoryTree, category_id: str | None, attributes: dict[str, Any] | None) -> int:
    """Share (0-100) of the category's attributes filled in; >= 90 raises search weight."""
    if not category_id or tree.get(category_id) is None:
        return 0
    defs = tree.attributes(category_id)
    if not defs:
        return 100
    filled = sum(1 for a in defs if a.name in (attributes or {}))
    return round(100 * filled / len(defs))


def scan_skus(skus: list[dict[str, Any]] | None) -> list[Finding]:
    """At least one SKU; codes and spec combinations distinct within the product."""
    skus = skus or []
    if not skus:
        return [Finding("skus", "sku_required", "", "a product needs at least one SKU")]
    out: list[Finding] = []
    codes: dict[str, int] = {}
    specs: dict[tuple[tuple[str, str], ...], int] = {}
    for i, sku in enumerate(skus):
        code = sku.get("sku_code", "")
        if code in codes:
            out.append(Finding(f"skus[{i}].sku_code", "sku_code_duplicate", code, f"same code as skus[{codes[code]}]"))
        codes.setdefault(code, i)
        spec = sorted((sku.get("spec") or {}).items(), key=lambda kv: kv[0])
        spec_key = tuple((k, str(v)) for k, v in spec)
        if spec_key in specs and len(skus) > 1:
            out.append(
                Finding(
                    f"skus[{i}].spec",
                    "sku_spec_duplicate",
                    str(dict(spec_key)),
                    f"same spec as skus[{specs[spec_key]}]",
                )
            )
        specs.setdefault(spec_key, i)
    return out


def scan_product(draft: dict[str, Any], tree: CategoryTree, lexicon: Lexicon, settings: Settings) -> list[Finding]:
    """The compliance scan run on every create, edit and submission (and shown to reviewers)."""
    findings: list[Finding] = []
    findings += scan_title(draft.get("title"), settings)
    findings += scan_words("title", draft.get("title"), lexicon)
    findings += scan_words("description", draft.get("description"), lexicon)
    findings += scan_images(draft.get("images"), settings)
    findings += scan_video(draft.get("video"), settings)
    findings += scan_skus(draft.get("skus"))
    findings += scan_prices(draft.get("skus"))
    findings += scan_category(tree, draft.get("category_id"), draft.get("attributes"), draft.get("skus"))
    pct = attribute_completeness(tree, draft.get("category_id"), draft.get("attributes"))
    if tree.is_leaf(draft.get("category_id") or "") and pct < settings.completeness_target_pct:
        findings.append(
            Finding(
                "attributes",
                "attribute_completeness",
                f"{pct}%",
                f"{pct}% of the category's attributes are filled; "
                f"{settings.completeness_target_pct}% raises search weight",
                WARNING,
            )
        )
    return findings
