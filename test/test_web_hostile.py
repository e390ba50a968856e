"""The operator page's server under hostile requests, without ROS: the real aiohttp server on a
real socket, driven byte by byte. Any request it cannot use gets a 4xx with a readable reason,
never a 5xx (a property-based search over bodies, headers and content types, and the four
requests that once gave 500s), and pages of another origin can neither read the video nor send
requests (a raw WebSocket client, and a second origin in Chromium)."""

from __future__ import annotations

import base64
import http.server
import json
import os
import socket
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from waiting import until
from web_stub import CHROMEDRIVER, CHROMIUM, chromium, start_server

TOKEN = "s3cret"


@pytest.fixture(scope="module")
def server():
    srv = start_server(TOKEN, init_rate=1e6, init_burst=10**6, allowed_origins=("https://robot.example.org",))
    yield srv
    srv.stop()


def raw_request(
    port: int, method: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes
) -> tuple[int, bytes]:
    """One HTTP/1.1 request as raw bytes (any header byte allowed); the status and the body."""
    head = [f"{method} {path} HTTP/1.1".encode(), f"Host: 127.0.0.1:{port}".encode(), b"Connection: close"]
    head += [name + b": " + value for name, value in headers]
    head.append(b"Content-Length: " + str(len(body)).encode())
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"\r\n".join(head) + b"\r\n\r\n" + body)
        chunks = []
        while data := s.recv(65536):
            chunks.append(data)
    reply = b"".join(chunks)
    status = int(reply.split(b" ", 2)[1])
    return status, reply.split(b"\r\n\r\n", 1)[1]


def post(
    port: int, path: str, body: bytes, content_type: bytes = b"application/json", extra=()
) -> tuple[int, dict]:
    headers = [(b"Content-Type", content_type), (b"X-Operator-Token", TOKEN.encode()), *extra]
    status, reply = raw_request(port, "POST", path, headers, body)
    return status, json.loads(reply)


def assert_refused(status: int, reply: dict, *words: str) -> None:
    assert 400 <= status < 500, (status, reply)
    assert reply["ok"] is False and reply["message"], reply
    for word in words:
        assert word in reply["message"], reply


def test_the_requests_that_once_gave_500s_get_4xx_with_a_reason(server):
    port = server.port
    status, reply = post(port, "/api/init", b"[" * 2000 + b"]" * 2000)
    assert_refused(status, reply, "nested")
    status, reply = raw_request(
        port,
        "POST",
        "/api/stop",
        [(b"Content-Type", b"application/json"), (b"X-Operator-Token", b"\xe9\xff")],
        b"{}",
    )
    assert_refused(status, json.loads(reply), "token")
    status, reply = post(port, "/api/stop", b"{}", b"application/json; charset=bogus-42")
    assert_refused(status, reply, "charset")
    for label in ('"\\ud800"', '"a\\u0000b"', '"tab\\there"', '"bell\\u0007"'):
        body = b'{"stamp_ns": "0", "box": [10, 10, 40, 30], "label": ' + label.encode() + b"}"
        status, reply = post(port, "/api/init", body)
        assert_refused(status, reply, "label")
    assert not [c for c in server.backend.calls if c[0] == "init"], "no refused label reached the tracker"
    status, reply = post(
        port, "/api/init", json.dumps({"stamp_ns": "0", "box": [10, 10, 40, 30], "label": "car 2"}).encode()
    )
    assert status == 200 and reply["ok"], reply


PATHS = st.sampled_from(
    ["/api/init", "/api/point", "/api/stop", "/api/remove", "/api/threshold", "/", "/ws", "/nope"]
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["stamp_ns", "box", "x", "y", "value", "label", "track_id", "z"])
            | st.text(max_size=5),
            inner,
            max_size=5,
        )
    ),
    max_leaves=12,
)
BODIES = st.one_of(
    JSON.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=200),
    st.integers(1, 3000).map(lambda n: b"[" * n + b"]" * n),
    st.text(max_size=40).map(
        lambda t: json.dumps({"stamp_ns": "0", "box": [1, 1, 9, 9], "label": t}).encode(
            "utf-8", "surrogatepass"
        )
    ),
)
HEADER_BYTES = st.binary(min_size=0, max_size=24).filter(lambda b: b"\r" not in b and b"\n" not in b)
CONTENT_TYPES = st.one_of(
    st.sampled_from(
        [
            b"application/json",
            b"text/plain",
            b"application/json; charset=utf-8",
            b"application/json; charset=latin-1",
            b"application/json; charset=utf-16",
            b"multipart/form-data; boundary=x",
            b"",
        ]
    ),
    HEADER_BYTES.map(lambda b: b"application/json; charset=" + b),
    HEADER_BYTES,
)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    path=PATHS,
    method=st.sampled_from(["POST", "GET", "PUT"]),
    body=BODIES,
    content_type=CONTENT_TYPES,
    token=st.one_of(st.just(TOKEN.encode()), HEADER_BYTES),
    origin=st.one_of(st.none(), st.just(b"http://evil.example"), HEADER_BYTES),
)
def test_no_request_gets_a_server_error(server, path, method, body, content_type, token, origin):
    headers = [(b"Content-Type", content_type), (b"X-Operator-Token", token)]
    if origin is not None:
        headers.append((b"Origin", origin))
    status, reply = raw_request(server.port, method, path, headers, body)
    assert status < 500, (status, reply[:300])
    if path.startswith("/api/") and method == "POST" and status >= 400:
        try:
            message = json.loads(reply)["message"]
        except ValueError:  # bytes no HTTP parser accepts: aiohttp's own 400, before any handler
            assert status == 400 and reply.strip(), reply[:200]
            return
        assert message and "Traceback" not in message, message


def websocket_upgrade(port: int, origin: str | None) -> int:
    """The HTTP status a raw WebSocket handshake gets (101: upgraded)."""
    headers = [
        (b"Upgrade", b"websocket"),
        (b"Connection", b"Upgrade"),
        (b"Sec-WebSocket-Version", b"13"),
        (b"Sec-WebSocket-Key", base64.b64encode(os.urandom(16))),
    ]
    if origin is not None:
        headers.append((b"Origin", origin.encode()))
    head = [b"GET /ws HTTP/1.1", f"Host: 127.0.0.1:{port}".encode()] + [n + b": " + v for n, v in headers]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"\r\n".join(head) + b"\r\n\r\n")
        return int(s.recv(4096).split(b" ", 2)[1])


def test_other_origins_cannot_read_the_video_or_send_requests(server):
    port = server.port
    assert websocket_upgrade(port, f"http://127.0.0.1:{port}") == 101, "the page's own origin"
    assert websocket_upgrade(port, None) == 101, "a client that is not a browser page"
    assert websocket_upgrade(port, "https://robot.example.org") == 101, "allowed_origins (a reverse proxy)"
    for origin in ("http://evil.example", f"http://localhost:{port}", f"http://127.0.0.1:{port + 1}", "null"):
        assert websocket_upgrade(port, origin) == 403, origin
        status, reply = post(port, "/api/stop", b"{}", extra=[(b"Origin", origin.encode())])
        assert_refused(status, reply, "another site")
    assert server.counts["refused_origin"] >= 8


@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="needs Debian's chromium and chromium-driver")
def test_a_page_of_another_origin_in_a_browser_cannot_open_the_video(server, tmp_path):
    """An attacker's page (here: another port, another origin) open in the operator's browser."""
    page = (
        f"<!doctype html><script>const ws = new WebSocket('ws://127.0.0.1:{server.port}/ws');"
        "ws.onopen = () => document.title = 'opened';"
        "ws.onclose = () => { if (document.title !== 'opened') document.title = 'refused'; };"
        "</script>"
    ).encode()

    class Evil(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the http.server interface
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args):
            pass

    evil = http.server.HTTPServer(("127.0.0.1", 0), Evil)
    threading.Thread(target=evil.serve_forever, daemon=True).start()
    driver = chromium(tmp_path)
    try:
        before = server.counts["refused_origin"]
        driver.get(f"http://localhost:{evil.server_address[1]}/")
        until(lambda: driver.title in ("opened", "refused"), 20, "the WebSocket's outcome")
        assert driver.title == "refused"
        assert server.counts["refused_origin"] > before
        driver.get(f"http://127.0.0.1:{server.port}/")  # the robot's own page still connects
        until(
            lambda: driver.execute_script("return document.body.dataset.tokenRequired || ''") == "true",
            20,
            "the page's own WebSocket",
        )
    finally:
        driver.quit()
        evil.shutdown()
