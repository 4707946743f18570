"""The merchant console under test: signing in through its form (Flask test client or requests)."""

from __future__ import annotations

import re

PASSWORD = "correct horse battery"


def csrf_of(html: str) -> str:
    """The CSRF token of a console page's forms."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def sign_in(client, name: str, password: str = PASSWORD):
    """Sign in through the form on a Flask test client (or a requests.Session with a base URL)."""
    page = client.get("/signin")
    html = page.get_data(as_text=True) if hasattr(page, "get_data") else page.text
    return client.post("/signin", data={"name": name, "password": password, "csrf_token": csrf_of(html)})
