"""console's settings, one frozen object (README "## Settings" lists them; tests/test_settings.py checks)."""

from __future__ import annotations

from dataclasses import dataclass

from ecom_common.settings import ServiceSettings, setting


@dataclass(frozen=True)
class Settings(ServiceSettings):
    token_ttl_minutes: int = setting(
        "CONSOLE_TOKEN_TTL_MINUTES",
        15,
        "minutes the platform JWT minted for a signed-in person lives (minted per request)",
    )
    session_hours: float = setting("CONSOLE_SESSION_HOURS", 8.0, "a sign-in lasts this long, then sign in again")
    signin_max_failures: int = setting(
        "CONSOLE_SIGNIN_MAX_FAILURES", 5, "failed sign-ins of one name (or one address) in the window before it waits"
    )
    signin_window_minutes: int = setting(
        "CONSOLE_SIGNIN_WINDOW_MINUTES",
        15,
        "the window of failed sign-ins counted (a throttled name waits it out)",
    )
    secure_cookies: bool = setting(
        "CONSOLE_SECURE_COOKIES", False, "send the session cookie only over HTTPS (set true behind TLS)"
    )
    admin_name: str = setting("CONSOLE_ADMIN_NAME", "admin", "the account the first migration creates")
    default_locale: str = setting(
        "CONSOLE_DEFAULT_LOCALE", "zh_CN", "the language of a person who chose none (zh_CN or en)"
    )
    page_size: int = setting("CONSOLE_PAGE_SIZE", 50, "rows per page of a list")
    assets_dir: str | None = setting(
        "CONSOLE_ASSETS_DIR",
        None,
        "the directory holding htmx.min.js (unset: where `make install` put it)",
    )
