"""`ecom token` mints only tokens the tenancy rule can place (CONTRACTS.md, Auth): a merchant-staff
role (ops, cs, warehouse) needs --shop-id, since a staff token without a shop sees nothing; finance
without a shop is the platform's finance and is minted as such."""

from __future__ import annotations

import pytest

from ecom_common.auth import decode_token
from ecom_common.cli import main

SECRET = "cli-test-secret-of-at-least-32-bytes!!"


@pytest.fixture
def ecom_token(monkeypatch, capsys):
    monkeypatch.setenv("ECOM_JWT_SECRET", SECRET)

    def run(*argv: str) -> tuple[int, str, str]:
        try:
            code = main(["token", *argv])
        except SystemExit as exc:  # argparse refuses with SystemExit(2)
            code = exc.code
        out, err = capsys.readouterr()
        return code, out.strip(), err

    return run


@pytest.mark.parametrize("roles", [["ops"], ["cs"], ["warehouse"], ["buyer", "ops"], ["buyer", "cs"]], ids="+".join)
def test_a_staff_role_without_shop_id_is_refused(ecom_token, roles):
    code, out, err = ecom_token(*[a for r in roles for a in ("--role", r)], "--sub", "cathy")
    assert code not in (0, None), f"ecom token {roles} without --shop-id printed a token: {out[:40]}"
    assert out == "", "nothing is printed on stdout when refused"
    assert "--shop-id" in err, f"the refusal says what is missing: {err!r}"


@pytest.mark.parametrize(
    "roles, shop_id",
    [
        (["ops"], "S1"),
        (["cs"], "S1"),
        (["warehouse"], "S2"),
        (["finance"], "S1"),
        (["buyer", "ops"], "S1"),
        (["finance"], None),
        (["admin"], None),
        (["reviewer"], None),
        (["service"], None),
        (["buyer"], None),
    ],
    ids=lambda v: "+".join(v) if isinstance(v, list) else f"shop={v}",
)
def test_tokens_the_rule_can_place_are_minted(ecom_token, roles, shop_id):
    code, out, err = ecom_token(
        *[a for r in roles for a in ("--role", r)], "--sub", "cathy", *(["--shop-id", shop_id] if shop_id else [])
    )
    assert code in (0, None), err
    principal = decode_token(SECRET, out)
    assert principal.roles == frozenset(roles) and principal.shop_id == shop_id and principal.sub == "cathy"
