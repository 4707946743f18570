"""catalog domain: categories and their typed attributes, the compliance scan and the product
lifecycle. No Flask, no SQL: every rule here is a plain function or class tested without a database.

The compliance scan returns *findings* (field, rule, offending text, message). Findings of severity
"error" block a create, an edit or a submission (the API answers 422 naming each one); "warning"s are
advice shown to the reviewer and to ops (too few detail images, video length, attribute completeness).
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ecom_common.errors import IllegalTransition, RuleViolation


# Identity ------------------------------------------------------------------------------------
def new_product_id(now: datetime) -> str:
    """PR + milliseconds (hex, so ids sort by creation) + a random tail."""
    return f"PR{int(now.timestamp() * 1000):012x}{secrets.token_hex(3)}"


def new_category_id(now: datetime) -> str:
    return f"CAT{int(now.timestamp() * 1000):012x}{secrets.token_hex(2)}"


# Settings ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Rules:
    """Every figure of the scan and the lifecycle; each is a CATALOG_* setting (see README)."""

    title_max_chars: int = 30
    main_image_min_px: int = 800
    detail_image_max_width_px: int = 750
    min_detail_images: int = 5  # warning only
    video_min_seconds: int = 30  # warning only
    video_max_seconds: int = 60  # warning only
    completeness_target_pct: int = 90  # warning only
    review_due_hours: int = 24
    restore_days: int = 30

    @classmethod
    def from_config(cls, config) -> Rules:
        s = config.setting
        return cls(
            title_max_chars=s("CATALOG_TITLE_MAX_CHARS", 30, int),
            main_image_min_px=s("CATALOG_MAIN_IMAGE_MIN_PX", 800, int),
            detail_image_max_width_px=s("CATALOG_DETAIL_IMAGE_MAX_WIDTH_PX", 750, int),
            min_detail_images=s("CATALOG_MIN_DETAIL_IMAGES", 5, int),
            video_min_seconds=s("CATALOG_VIDEO_MIN_SECONDS", 30, int),
            video_max_seconds=s("CATALOG_VIDEO_MAX_SECONDS", 60, int),
            completeness_target_pct=s("CATALOG_COMPLETENESS_TARGET_PCT", 90, int),
            review_due_hours=s("CATALOG_REVIEW_DUE_HOURS", 24, int),
            restore_days=s("CATALOG_RESTORE_DAYS", 30, int),
        )


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

    def to_dict(self) -> dict:
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


def scan_title(title: str | None, rules: Rules) -> list[Finding]:
    if title is None or not title.strip():
        return [Finding("title", "title_required", title or "", "the title must not be empty")]
    n = title_length(title)
    if n > rules.title_max_chars:
        return [
            Finding(
                "title",
                "title_too_long",
                title,
                f"the title has {n} characters, at most {rules.title_max_chars} are allowed",
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
    findings, seen = [], set()
    for start, end, word in lexicon.find(text or ""):
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
def scan_images(images: list[dict] | None, rules: Rules) -> list[Finding]:
    images = images or []
    if not images:
        return [Finding("images", "image_required", "", "at least one image (the main image) is required")]
    out: list[Finding] = []
    main = images[0]
    w, h = main.get("width"), main.get("height")
    url = str(main.get("url", ""))
    m = rules.main_image_min_px
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
        if width is not None and width > rules.detail_image_max_width_px:
            out.append(
                Finding(
                    f"images[{i}]",
                    "detail_image_width",
                    f"{width}px",
                    f"detail images are at most {rules.detail_image_max_width_px} px wide",
                )
            )
    details = len(images) - 1
    if details < rules.min_detail_images:
        out.append(
            Finding(
                "images",
                "detail_images_few",
                str(details),
                f"{details} detail image(s); at least {rules.min_detail_images} are recommended",
                WARNING,
            )
        )
    return out


def scan_video(video: dict | None, rules: Rules) -> list[Finding]:
    if not video or video.get("duration_s") is None:
        return []
    d = video["duration_s"]
    if d < rules.video_min_seconds or d > rules.video_max_seconds:
        return [
            Finding(
                "video.duration_s",
                "video_length",
                f"{d}s",
                f"a product video should last {rules.video_min_seconds}-{rules.video_max_seconds} s",
                WARNING,
            )
        ]
    return []


# Prices --------------------------------------------------------------------------------------
def scan_prices(skus: list[dict] | None) -> list[Finding]:
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


def validate_attribute_defs(defs: list[dict], inherited: list[AttributeDef]) -> dict[str, list[str]]:
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


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_attribute_value(defn: AttributeDef, value, field_name: str) -> list[Finding]:
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
    tree: CategoryTree, category_id: str | None, attributes: dict | None, skus: list[dict] | None
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


def attribute_completeness(tree: CategoryTree, category_id: str | None, attributes: dict | None) -> int:
    """Share (0-100) of the category's attributes filled in; >= 90 raises search weight."""
    if not category_id or tree.get(category_id) is None:
        return 0
    defs = tree.attributes(category_id)
    if not defs:
        return 100
    filled = sum(1 for a in defs if a.name in (attributes or {}))
    return round(100 * filled / len(defs))


def scan_skus(skus: list[dict] | None) -> list[Finding]:
    """At least one SKU; codes and spec combinations distinct within the product."""
    skus = skus or []
    if not skus:
        return [Finding("skus", "sku_required", "", "a product needs at least one SKU")]
    out: list[Finding] = []
    codes: dict[str, int] = {}
    specs: dict[tuple, int] = {}
    for i, sku in enumerate(skus):
        code = sku.get("sku_code", "")
        if code in codes:
            out.append(Finding(f"skus[{i}].sku_code", "sku_code_duplicate", code, f"same code as skus[{codes[code]}]"))
        codes.setdefault(code, i)
        spec_key = tuple(sorted((sku.get("spec") or {}).items(), key=lambda kv: kv[0]))
        spec_key = tuple((k, str(v)) for k, v in spec_key)
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


def scan_product(draft: dict, tree: CategoryTree, lexicon: Lexicon, rules: Rules) -> list[Finding]:
    """The compliance scan run on every create, edit and submission (and shown to reviewers)."""
    findings: list[Finding] = []
    findings += scan_title(draft.get("title"), rules)
    findings += scan_words("title", draft.get("title"), lexicon)
    findings += scan_words("description", draft.get("description"), lexicon)
    findings += scan_images(draft.get("images"), rules)
    findings += scan_video(draft.get("video"), rules)
    findings += scan_skus(draft.get("skus"))
    findings += scan_prices(draft.get("skus"))
    findings += scan_category(tree, draft.get("category_id"), draft.get("attributes"), draft.get("skus"))
    pct = attribute_completeness(tree, draft.get("category_id"), draft.get("attributes"))
    if tree.is_leaf(draft.get("category_id") or "") and pct < rules.completeness_target_pct:
        findings.append(
            Finding(
                "attributes",
                "attribute_completeness",
                f"{pct}%",
                f"{pct}% of the category's attributes are filled; "
                f"{rules.completeness_target_pct}% raises search weight",
                WARNING,
            )
        )
    return findings


# Edits ---------------------------------------------------------------------------------------
CONTENT_FIELDS = ("title", "brand", "description", "images", "video", "attributes", "category_id")
SKU_CONTENT_FIELDS = ("spec", "barcode")
SKU_COMMERCIAL_FIELDS = ("list_price_fen", "promo_price_fen", "member_price_fen", "low_stock_threshold", "weight_g")


@dataclass(frozen=True)
class EditKind:
    content: bool  # what a shopper reads changed: a listed product goes back to review
    commercial: bool  # prices (or weight / alert threshold) changed: PriceChanged


def classify_edit(before: dict, after: dict) -> EditKind:
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
    from_status: str
    to_status: str
    reason: str | None = None
    changes: dict = field(default_factory=dict)  # other columns to set with the new status


def _guard(state: ProductState, action: str) -> None:
    if state.status not in TRANSITIONS[action]:
        raise IllegalTransition("product", state.status, action)


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
    if reason not in DELIST_REASONS:
        raise RuleViolation("unknown delist reason", {"reason": [f"One of: {', '.join(DELIST_REASONS)}."]})
    return Transition(
        "delist", state.status, DELISTED, f"{reason}: {note}" if note else reason, {"delist_reason": reason}
    )


def relist(state: ProductState) -> Transition:
    """Seasonal / out-of-stock delists go straight back on sale; a violation (or content edited
    while delisted) must pass review again: submit instead."""
    _guard(state, "relist")
    if state.delist_reason == VIOLATION:
        raise IllegalTransition("product delisted for a violation (submit it for review)", state.status, "relist")
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


def restore(state: ProductState, now: datetime, rules: Rules) -> Transition:
    _guard(state, "restore")
    if state.deleted_at is not None and now > state.deleted_at + timedelta(days=rules.restore_days):
        raise IllegalTransition(f"product deleted more than {rules.restore_days} days ago", state.status, "restore")
    target, reason = restore_target(state.status_before_delete)
    changes = {"deleted_at": None, "status_before_delete": None}
    if target == DELISTED:
        # Keep a violation delist a violation: restoring must not launder it.
        changes["delist_reason"] = VIOLATION if state.delist_reason == VIOLATION else reason
    return Transition("restore", state.status, target, None, changes)


def edit(state: ProductState, kind: EditKind) -> Transition:
    """An edit keeps the status, except content edits of a listed product (back to review); content
    edits of a delisted product mark it as needing review before it can be relisted."""
    _guard(state, "edit")
    if state.status == LISTED and kind.content:
        return Transition(
            "edit", LISTED, PENDING, "content changed while listed: review again", {"delist_reason": None}
        )
    changes = {}
    if state.status == DELISTED and kind.content:
        changes["review_required"] = True
    return Transition("edit", state.status, state.status, None, changes)


def review_due(submitted_at: datetime, rules: Rules) -> datetime:
    return submitted_at + timedelta(hours=rules.review_due_hours)


def is_overdue(due_at: datetime | None, now: datetime) -> bool:
    return due_at is not None and now > due_at


def restorable_until(deleted_at: datetime | None, rules: Rules) -> datetime | None:
    return deleted_at + timedelta(days=rules.restore_days) if deleted_at else None


def purge_cutoff(now: datetime, rules: Rules) -> datetime:
    """Deleted before this moment -> past the restore window -> purged."""
    return now - timedelta(days=rules.restore_days)


# Seed data (used by migration 0001; documented in the README) ----------------------------------
SEED_CATEGORIES: list[dict] = [
    {"id": "womenswear", "parent_id": None, "name": "女装", "attributes": []},
    {
        "id": "womenswear-dresses",
        "parent_id": "womenswear",
        "name": "连衣裙",
        "attributes": [
            {"name": "尺码", "type": MULTI_ENUM, "required": True, "options": ["XS", "S", "M", "L", "XL", "XXL"]},
            {
                "name": "颜色",
                "type": MULTI_ENUM,
                "required": True,
                "options": ["黑色", "白色", "红色", "蓝色", "粉色", "绿色", "黄色", "灰色", "杏色"],
            },
            {
                "name": "材质",
                "type": ENUM,
                "required": True,
                "options": ["棉", "麻", "真丝", "涤纶", "羊毛", "雪纺", "混纺"],
            },
            {"name": "裙长", "type": ENUM, "required": False, "options": ["短裙", "中长裙", "长裙"]},
            {"name": "风格", "type": TEXT, "required": False},
        ],
    },
    {"id": "beauty", "parent_id": None, "name": "美妆护肤", "attributes": []},
    {
        "id": "beauty-masks",
        "parent_id": "beauty",
        "name": "面膜",
        "attributes": [
            {
                "name": "适用肤质",
                "type": MULTI_ENUM,
                "required": True,
                "options": ["干性", "油性", "混合性", "中性", "敏感性", "通用"],
            },
            {"name": "净含量ml", "type": NUMBER, "required": True},
            {"name": "片数", "type": NUMBER, "required": False},
        ],
    },
    {
        "id": "beauty-masks-repair",
        "parent_id": "beauty-masks",
        "name": "修护面膜",
        "attributes": [
            {"name": "功效", "type": MULTI_ENUM, "required": True, "options": ["修护", "补水", "舒缓", "保湿", "提亮"]},
            {"name": "备案号", "type": TEXT, "required": False},
        ],
    },
    {"id": "digital", "parent_id": None, "name": "数码", "attributes": []},
    {
        "id": "digital-phones",
        "parent_id": "digital",
        "name": "手机",
        "attributes": [
            {"name": "网络类型", "type": ENUM, "required": True, "options": ["5G", "4G"]},
            {
                "name": "存储容量",
                "type": MULTI_ENUM,
                "required": True,
                "options": ["64GB", "128GB", "256GB", "512GB", "1TB"],
            },
            {"name": "颜色", "type": TEXT, "required": False},
            {"name": "屏幕尺寸英寸", "type": NUMBER, "required": False},
            {"name": "运行内存", "type": ENUM, "required": False, "options": ["4GB", "6GB", "8GB", "12GB", "16GB"]},
        ],
    },
]

# 广告法 第九条 (absolute terms) and the usual platform list; admins edit it at /api/v1/banned-words.
SEED_BANNED_WORDS = [
    "最",
    "第一",
    "绝对",
    "国家级",
    "顶级",
    "极品",
    "唯一",
    "首个",
    "首选",
    "独家",
    "全网第一",
    "史无前例",
    "万能",
    "永久",
    "王牌",
    "世界级",
    "冠军",
    "极致",
    "终极",
    "顶尖",
    "100%",
    "NO.1",
    "TOP1",
]
# Ordinary words that contain a banned one but claim nothing.
SEED_EXEMPTIONS = ["最近", "最初", "第一次", "第一步", "绝对值"]
