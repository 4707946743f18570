"""catalog's settings: every figure of the compliance scan and the product lifecycle, each a
`CATALOG_*` variable (the README's "Settings" table lists them; tests/test_settings.py checks it)."""

from __future__ import annotations

from dataclasses import dataclass

from ecom_common.settings import ServiceSettings, setting


@dataclass(frozen=True)
class Settings(ServiceSettings):
    title_max_chars: int = setting("CATALOG_TITLE_MAX_CHARS", 30, "most characters in a title (a CJK character is one)")
    main_image_min_px: int = setting(
        "CATALOG_MAIN_IMAGE_MIN_PX", 800, "least width and height of the square main image"
    )
    detail_image_max_width_px: int = setting(
        "CATALOG_DETAIL_IMAGE_MAX_WIDTH_PX", 750, "widest detail image (px) when a width is given"
    )
    min_detail_images: int = setting("CATALOG_MIN_DETAIL_IMAGES", 5, "fewer detail images: a warning")
    video_min_seconds: int = setting("CATALOG_VIDEO_MIN_SECONDS", 30, "a shorter video: a warning")
    video_max_seconds: int = setting("CATALOG_VIDEO_MAX_SECONDS", 60, "a longer video: a warning")
    completeness_target_pct: int = setting(
        "CATALOG_COMPLETENESS_TARGET_PCT", 90, "share (%) of the category's attributes filled below which a warning"
    )
    review_due_hours: int = setting(
        "CATALOG_REVIEW_DUE_HOURS", 24, "a submitted product is overdue after this many hours"
    )
    restore_days: int = setting(
        "CATALOG_RESTORE_DAYS", 30, "a deleted product is restorable this many days, then purged"
    )
    sweep_delist: bool = setting(
        "CATALOG_SWEEP_DELIST",
        False,
        "a compliance sweep also delists the listed products that now break a rule (reason `compliance`)",
    )
    sweep_every_hours: int = setting(
        "CATALOG_SWEEP_EVERY_HOURS", 24, "hours between periodic compliance sweeps of every listed product"
    )
    sweep_lease_seconds: int = setting(
        "CATALOG_SWEEP_LEASE_SECONDS", 600, "a running sweep a worker stopped renewing is taken over after this"
    )
