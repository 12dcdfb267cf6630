"""Who may POST /-/reload: loopback, or anyone with the reload token; nobody else (the metrics port is open to the
pod network). The route is given a reload function that records its calls, so nothing is reloaded by a refusal."""

from __future__ import annotations

import pytest

from sentinel.daemon_http import reload_route
from sentinel.http import PostRequest

TOKEN = "a-long-reload-token"


def call(client: str, authorization: str | None = None, *, token: str | None = TOKEN,
         taken: bool = True) -> tuple[int, str, list[int]]:
    calls: list[int] = []

    def reload() -> bool:
        calls.append(1)
        return taken

    code, _, body = reload_route(reload, token)["/-/reload"](PostRequest(client, authorization))
    return code, body.decode(), calls


@pytest.mark.parametrize("client", ["127.0.0.1", "127.3.4.5", "::1", "::ffff:127.0.0.1"])
def test_loopback_may_reload_without_a_token(client: str) -> None:
    assert call(client, token=None)[::2] == (200, [1])


def test_a_remote_caller_needs_the_token() -> None:
    code, body, calls = call("10.4.0.17")
    assert code == 403 and "Bearer" in body and calls == []
    assert call("10.4.0.17", f"Bearer {TOKEN}")[::2] == (200, [1])
    assert call("10.4.0.17", f"bearer {TOKEN}")[::2] == (200, [1])  # the scheme is case-insensitive (RFC 7235)


def test_without_a_token_configured_remote_reload_is_off_and_says_how_to_turn_it_on() -> None:
    code, body, calls = call("10.4.0.17", f"Bearer {TOKEN}", token=None)
    assert code == 403 and "reload_token" in body and calls == []


@pytest.mark.parametrize("authorization", ["Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer "])
def test_a_wrong_token_is_refused_even_from_loopback(authorization: str) -> None:
    code, body, calls = call("127.0.0.1", authorization)
    assert code == 403 and calls == [] and TOKEN not in body


def test_a_rejected_config_answers_500() -> None:
    code, body, calls = call("127.0.0.1", taken=False)
    assert code == 500 and "previous config keeps running" in body and calls == [1]
