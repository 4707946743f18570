"""Page objects of the merchant console for the browser tests (Playwright, sync API).

The browser is Debian's Chromium (`/usr/bin/chromium`): Playwright's own browser download does not
work here. `make test` installs it (and a CJK font) with apt when it is missing and runs as root;
elsewhere the browser tests skip with the reason, and with CI=true a missing browser fails them.
Every wait is on an element or a state (Playwright's auto-waiting `expect`), never a fixed sleep.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("ECOM_CHROMIUM", "/usr/bin/chromium"))
CJK_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
# A busy 2-core machine runs the whole platform in the test's process: generous, not a deadline.
TIMEOUT_MS = 30_000
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-dev-shm-usage",
    "--no-first-run",
]


def require_browser() -> None:
    """Skip (or, with CI=true, fail) when the browser or the CJK font is missing."""
    missing = [str(p) for p in (CHROMIUM, CJK_FONT) if not p.exists()]
    try:
        import playwright  # noqa: F401
    except ImportError:
        missing.append("the playwright package (make install)")
    if missing:
        reason = f"console browser tests need {', '.join(missing)}: `make test` installs them with apt as root"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)


def launch(playwright):
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)


class ConsolePage:
    """One signed-in (or not yet) person's tab of the console."""

    def __init__(self, page, base_url: str):
        self.page = page
        self.base = base_url.rstrip("/")
        page.set_default_timeout(TIMEOUT_MS)

    def by(self, testid: str):
        return self.page.get_by_test_id(testid)

    def open(self, path: str) -> ConsolePage:
        self.page.goto(self.base + path)
        return self

    def sign_in(self, name: str, password: str) -> ConsolePage:
        from playwright.sync_api import expect

        self.open("/signin")
        self.by("signin-name").fill(name)
        self.by("signin-password").fill(password)
        self.by("signin-submit").click()
        expect(self.by("whoami")).to_contain_text(name)
        return self

    def nav(self, key: str) -> ConsolePage:
        self.by(f"nav-{key}").click()
        self.page.wait_for_load_state()
        return self

    def flash_success(self):
        return self.by("flash-success")

    def flash_error(self):
        return self.by("flash-error")

    def row(self, testid: str, **data: str):
        """The table row `testid` whose data-* attributes match (e.g. order_id="O1")."""
        selector = f'[data-testid="{testid}"]' + "".join(f'[data-{re.sub("_", "-", k)}="{v}"]' for k, v in data.items())
        return self.page.locator(selector)

    def csrf_token(self) -> str:
        return self.page.locator('input[name="csrf_token"]').first.get_attribute("value") or ""
