"""The contract the deploy tests compare against is the one of CONTRACTS.md and docs/interfaces.md."""

import re

from ecom_common.config import PORTS as COMMON_PORTS
from ecom_testkit.deploytools import CALLS, DEPLOY, PORTS, contract_ports_from_docs, http_calls_from_interfaces


def test_ports_are_those_of_the_contract():
    assert PORTS == COMMON_PORTS
    from_docs = contract_ports_from_docs()
    if from_docs is not None:  # CONTRACTS.md sits beside the repository (shared/)
        # The contract also names services not built yet (marketing, analytics, console): each one
        # built has the contract's port, and none takes a port the contract gives another.
        assert {s: p for s, p in from_docs.items() if s in PORTS} == PORTS
        assert set(PORTS) <= set(from_docs), "a service the contract does not name"
        taken = {p: s for s, p in from_docs.items() if s not in PORTS}
        assert not {s: p for s, p in PORTS.items() if p in taken}, "a port the contract gives another service"


def test_peer_calls_are_those_of_the_interfaces_document():
    documented = http_calls_from_interfaces()
    assert documented == {s: calls - ({"billing"} if s == "billing" else set()) for s, calls in CALLS.items()}


def test_procfile_uses_the_contract_ports():
    # `-b 127.0.0.1:${ORDERS_PORT:-8002}`: the contract's port unless the operator (or a test) moves it
    web = re.findall(
        r"^(\w+)-web: .* -b 127\.0\.0\.1:\$\{(\w+)_PORT:-(\d+)\} ", (DEPLOY / "Procfile").read_text(), flags=re.M
    )
    assert {s: int(p) for s, _, p in web} == PORTS
    assert all(var == s.upper() for s, var, _ in web)
