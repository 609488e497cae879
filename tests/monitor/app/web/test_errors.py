"""Bad input gets a 4xx with a clear message, never a 5xx or a traceback (issue 12 item 6):
the console's error answers, probed over real HTTP with routes that take every kind of input."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.identity_web import api_token, bearer
from tests.support.web import ThreadedConsole, probe_routes, run_schemathesis

SECRET = "hunter2-do-not-echo"


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedConsole]:
    with ThreadedConsole(tmp_path_factory.mktemp("web"), routes=probe_routes()) as served:
        yield served


@pytest.fixture(scope="module")
def token(console: ThreadedConsole) -> str:
    """A viewer's API token: the OpenAPI document is for a signed-in caller."""
    return api_token(console.identity.records)


@pytest.fixture
def client(console: ThreadedConsole, token: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=console.url, timeout=10, headers=bearer(token)) as http:
        yield http


def error_of(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert isinstance(body, dict) and isinstance(body["error"], str) and body["error"]
    assert "Traceback" not in response.text and SECRET not in response.text
    return body


def test_a_good_request_is_served(client: httpx.Client) -> None:
    response = client.post("/api/probe/items", json={"name": "rack 3", "count": 2})
    assert response.status_code == 201
    assert response.json() == {"name": "rack 3", "count": 2, "note": None}


@pytest.mark.parametrize(
    ("content", "headers", "where"),
    [
        (b'{"name": "x", "count": ', {"content-type": "application/json"}, ["body", 23]),
        (b"\xff\xfe\x00garbage", {"content-type": "application/json"}, ["body", 0]),
        (b"", {"content-type": "application/json"}, ["body"]),
        (b"[1, 2, 3]", {"content-type": "application/json"}, ["body"]),
        (b"name=x&count=1", {"content-type": "application/x-www-form-urlencoded"}, ["body"]),
    ],
    ids=["truncated", "not-utf8", "empty", "array", "form-to-json"],
)
def test_malformed_json_is_422_naming_where(
    client: httpx.Client, content: bytes, headers: dict[str, str], where: list[object]
) -> None:
    body = error_of(client.post("/api/probe/items", content=content, headers=headers), 422)
    assert body["reason"] == "invalid_request"
    assert str(body["error"]).startswith("invalid request: body")
    locs = [issue["loc"] for issue in body["detail"]]  # type: ignore[attr-defined]
    assert where in locs or any(loc[: len(where)] == where for loc in locs), locs


def test_each_bad_field_is_named_and_its_value_never_echoed(client: httpx.Client) -> None:
    body = error_of(
        client.post("/api/probe/items", json={"name": "", "count": SECRET, "extra": 1}), 422
    )
    fields = {".".join(map(str, issue["loc"])): issue for issue in body["detail"]}  # type: ignore[attr-defined]
    assert set(fields) == {"body.name", "body.count", "body.extra"}
    assert fields["body.extra"]["msg"] == "Extra inputs are not permitted"
    assert "input" not in fields["body.count"] and "ctx" not in fields["body.name"]
    assert "body.name: String should have at least 1 character" in str(body["error"])


def test_nesting_deeper_than_the_parser_allows_is_400(client: httpx.Client) -> None:
    deep = b"[" * 30_000 + b"]" * 30_000
    response = client.post(
        "/api/probe/items", content=deep, headers={"content-type": "application/json"}
    )
    assert error_of(response, 400)["reason"] == "bad_request"


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/probe/items/abc", "path.item_id"),
        ("/api/probe/items/1?limit=0", "query.limit"),
        ("/api/probe/items/1?limit=1e400", "query.limit"),
        ("/api/probe/items/1?verbose=maybe", "query.verbose"),
        ("/api/probe/items/99999999999999999999999999", None),
    ],
)
def test_bad_parameters_are_422_or_served(
    client: httpx.Client, path: str, field: str | None
) -> None:
    response = client.get(path)
    if field is None:  # a big integer is still an integer
        assert response.status_code == 200, response.text
        return
    body = error_of(response, 422)
    assert field in [".".join(map(str, i["loc"])) for i in body["detail"]]  # type: ignore[attr-defined]


def test_bad_forms_are_422(client: httpx.Client) -> None:
    assert client.post("/api/probe/form", data={"name": "a", "count": "3"}).status_code == 200
    error_of(client.post("/api/probe/form", data={"name": "a", "count": "lots"}), 422)
    error_of(client.post("/api/probe/form", data={"count": "1"}), 422)
    broken = client.post(
        "/api/probe/form",
        content=b'--xx\r\nContent-Disposition: form-data; name="name"\r\n\r\nunterminated',
        headers={"content-type": "multipart/form-data; boundary=xx"},
    )
    assert 400 <= broken.status_code < 500, broken.text


def test_unknown_routes_and_methods(client: httpx.Client) -> None:
    body = error_of(client.get("/api/probe/nothing"), 404)
    assert body == {"error": "nothing here: /api/probe/nothing", "reason": "not_found"}
    error_of(client.get("/%00%ff/../../etc/passwd"), 404)
    error_of(client.get("/static/../../config.py"), 404)
    response = client.delete("/api/probe/items")
    body = error_of(response, 405)
    assert body["reason"] == "method_not_allowed"
    assert response.headers["allow"] == "POST"
    assert body["error"] == "DELETE is not allowed here (only POST)"


def test_a_browser_gets_an_error_page(client: httpx.Client) -> None:
    response = client.get("/no/such/page", headers={"accept": "text/html,*/*;q=0.8"})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>404 Not Found</h1>" in response.text
    assert "nothing here: /no/such/page" in response.text
    hostile = client.get("/<script>alert(1)</script>", headers={"accept": "text/html"})
    assert hostile.status_code == 404
    assert "<script>alert" not in hostile.text and "&lt;script&gt;alert(1)" in hostile.text
    api = client.get("/api/nothing", headers={"accept": "text/html"})  # API paths stay JSON
    assert api.headers["content-type"] == "application/json"


def test_a_bug_is_500_with_no_detail_and_its_traceback_only_in_the_log(
    client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        body = error_of(client.get("/api/probe/bug"), 500)
        assert body == {
            "error": "internal error: the daemon's log has the details, please report it",
            "reason": "internal_error",
        }
        deadline = time.monotonic() + 5  # the server logs it after answering
        while time.monotonic() < deadline:
            logged = [r for r in caplog.records if r.exc_info and "hunter2" in str(r.exc_info[1])]
            if logged:
                break
            time.sleep(0.05)
    assert logged, [r.getMessage() for r in caplog.records]


def test_the_openapi_document_describes_the_routes_and_the_error_shape(
    client: httpx.Client,
) -> None:
    document = client.get("/api/openapi.json").json()
    assert {"/healthz", "/api/probe/items", "/api/probe/items/{item_id}"} <= set(document["paths"])
    assert "/api/probe/bug" not in document["paths"]
    assert "/api/events/heartbeat" not in document["paths"]  # a placeholder, see events.py
    responses = document["paths"]["/api/probe/items"]["post"]["responses"]
    assert {"201", "400", "413", "422"} <= set(responses)
    assert json.dumps(document).count("ErrorBody") >= 2
    for page in ("/docs", "/redoc"):  # they load scripts from a CDN: off
        assert client.get(page).status_code == 404


def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    console: ThreadedConsole, token: str, tmp_path: Path
) -> None:
    """Every route that takes input, fuzzed from the OpenAPI document over HTTP (as a
    signed-in machine: the document and the alarm API need one)."""
    result = run_schemathesis(
        console.url + "api/openapi.json", tmp_path, headers=bearer(token), quiet_404=True
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "No issues found" in result.stdout, result.stdout[-2000:]
    assert "Tested: 10" in result.stdout, result.stdout[-2000:]  # with the chart and overview
