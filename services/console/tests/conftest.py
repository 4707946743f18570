"""Fixtures for the console's unit tests: SQLite (ecom_testkit.plugin's `config`, `db`, `app`), staff
accounts made through the operations, and a fake of the services (the gateway) recording the token
each call carried."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from console import gateways, operations
from console.settings import Settings
from ecom_common.auth import decode_token
from ecom_common.peers import inject_gateway
from ecom_common.usecase import Actor, for_job
from ecom_testkit.console_support import PASSWORD, csrf_of, sign_in
from ecom_testkit.tokens import TEST_SECRET


@dataclass
class FakeServices:
    """Answers by (method, path); records every call with the principal of its token."""

    answers: dict = field(default_factory=dict)
    calls: list = field(default_factory=list)

    def on(self, method, path, status=200, body=None):
        self.answers[(method, path)] = gateways.Answer(status, body)

    def call(self, token, peer, request):
        self.calls.append(
            (decode_token(TEST_SECRET, token), peer, request.method, request.path, request.params, request.json)
        )
        return self.answers.get((request.method, request.path), gateways.Answer(404, {"detail": "not found"}))

    def stream(self, token, peer, path, *, params=None):
        """An export: the answer set with `on` (its body the bytes), given back in two chunks."""
        answer = self.call(token, peer, gateways.Call("GET", path, params))
        if not answer.ok:
            return answer, iter(())
        body = answer.body
        return gateways.Answer(answer.status, None), iter((body[:3], body[3:]))

    def text(self, token, peer, path, *, params=None):
        return self.call(token, peer, gateways.Call("GET", path, params))


@pytest.fixture
def service_name():
    return "console"


@pytest.fixture
def service_settings():
    return {}


@pytest.fixture
def fake(app):
    services = FakeServices()
    inject_gateway(app, gateways.KEY, services)
    return services


@pytest.fixture
def make_staff(db):
    def make(name, roles, shop_id=None, password=PASSWORD):
        with for_job(db, Settings, Actor("admin", ("admin",))) as ctx:
            staff, _ = operations.create_staff(ctx, name, roles=roles, shop_id=shop_id, password=password)
            return staff.id

    return make


@pytest.fixture
def signed_in(client, make_staff, fake):
    """Sign a new account in on the test client; returns the CSRF token of its pages."""

    def run(name, roles, shop_id=None):
        make_staff(name, roles, shop_id)
        resp = sign_in(client, name)
        assert resp.status_code == 302, resp.get_data(as_text=True)
        return csrf_of(client.get("/").get_data(as_text=True))

    return run
