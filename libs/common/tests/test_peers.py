"""PeerClient against a real HTTP server on the loopback (a werkzeug server in a thread, no fakes):
what a caller answers when its peer is unavailable, failing, or unreachable."""

from __future__ import annotations

import json
import threading

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from ecom_common.config import Config
from ecom_common.errors import BadGateway, ServiceUnavailable
from ecom_common.peers import PeerClient


@pytest.fixture
def peer():
    """A peer that answers the status named in the path (`/status/503`) and counts the calls."""
    calls = []

    @Request.application
    def app(request):
        calls.append((request.method, request.path))
        status = int(request.path.rsplit("/", 1)[-1])
        return Response(json.dumps({"status": status}), status=status, content_type="application/json")

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", calls
    finally:
        server.shutdown()
        thread.join(5)


def client(base: str) -> PeerClient:
    return PeerClient(
        Config(
            service="orders",
            database_url="sqlite://",
            broker_url="memory://",
            jwt_secret="k" * 40,
            peers={"logistics": base},
        ),
        "logistics",
        timeout=5,
    )


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_peer_answering_503_is_passed_on_as_503(peer, method):
    """A peer whose database is away answers 503: the caller answers 503 too (retry later), not 502.
    (POST /orders while logistics' database was away answered 502 for its shipping quote.)"""
    base, calls = peer
    with pytest.raises(ServiceUnavailable) as raised:
        client(base).request(method, "/status/503")
    assert raised.value.status == 503 and "logistics" in raised.value.detail
    # GETs are retried (twice) before giving up; a POST is sent once
    assert len(calls) == (3 if method == "GET" else 1)


@pytest.mark.parametrize("status", [500, 502])
def test_a_peer_failing_otherwise_is_a_bad_gateway(peer, status):
    base, _ = peer
    with pytest.raises(BadGateway) as raised:
        client(base).post(f"/status/{status}")
    assert raised.value.status == 502 and f"answered {status}" in raised.value.detail


def test_a_peer_that_cannot_be_reached_is_503_and_its_answers_are_returned(peer):
    base, _ = peer
    assert client(base).post("/status/422").status_code == 422  # the caller decides what a 4xx means
    assert client(base).get("/status/200").json() == {"status": 200}
    with pytest.raises(ServiceUnavailable):
        client("http://127.0.0.1:9").get("/status/200")  # nothing listens on port 9
