"""The operator page's server (aiohttp, in its own thread and event loop).

GET /            the page; GET /static/*: its assets (nothing is fetched from elsewhere: the
                 Content-Security-Policy forbids it)
GET /ws          a WebSocket: binary video frames (header + JPEG) and JSON status messages
POST /api/init   {stamp_ns, box: [x, y, w, h], label}: start a track on the frame the operator saw
POST /api/point  {stamp_ns, x, y}: start a track on a box around a tapped point
POST /api/stop   stop tracking (every target)
POST /api/remove {track_id}: stop tracking one target (the others go on)
POST /api/threshold {value}: the tracker's score threshold (the only parameter the page may set)

Every POST needs the token when one is set (header X-Operator-Token) and a JSON body; init and
point requests are rate-limited per client. WebSocket upgrades and POSTs from a browser page of
another origin are refused (403): only the page's own origin and `allowed_origins` (a reverse
proxy's public origin) may read the video or send requests. A request the server cannot use gets
a 4xx with the reason (one place turns every parsing failure into a refusal: `_json_body`), a
tracker's refusal 200 with ok false and the tracker's reason.
"""

from __future__ import annotations

import asyncio
import json
import struct
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from aiohttp import WSMsgType, web

from .guard import RateLimit, origin_ok, token_ok
from .requests import (
    InitRequest,
    PointRequest,
    RequestError,
    decode_json,
    parse_init,
    parse_point,
    parse_remove,
    parse_threshold,
)

STATIC = Path(__file__).with_name("static")
FRAME_HEADER = struct.Struct("<qII")  # stamp (ns), width, height of the camera image; then JPEG bytes
TOKEN_HEADER = "X-Operator-Token"
MAX_BODY = 16 * 1024
MALFORMED = (400, 413, 415)  # refusals counted as malformed requests
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' blob: data:; connect-src 'self'; style-src 'self'; "
        "script-src 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True)
class Outcome:
    """What the tracker said to a request."""

    ok: bool
    message: str
    track_id: str = ""


class OperatorBackend(Protocol):
    """What the page can ask of the tracker (the node implements it over ROS)."""

    async def init(self, request: InitRequest) -> Outcome: ...
    async def point(self, request: PointRequest) -> Outcome: ...
    async def stop(self) -> Outcome: ...
    async def remove(self, track_id: str) -> Outcome: ...
    async def set_threshold(self, value: float) -> Outcome: ...
    def hello(self) -> dict[str, Any]: ...


class OperatorServer:
    def __init__(
        self,
        backend: OperatorBackend,
        bind: str = "127.0.0.1",
        port: int = 8080,
        token: str = "",
        init_rate: float = 2.0,
        init_burst: int = 5,
        allowed_origins: tuple[str, ...] = (),
    ) -> None:
        self.backend, self.bind, self.port, self.token = backend, bind, port, token
        self.allowed_origins = tuple(allowed_origins)
        self.limit = RateLimit(init_rate, init_burst)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._sockets: set[web.WebSocketResponse] = set()
        self._busy: set[web.WebSocketResponse] = set()
        self.counts = {
            "requests": 0,
            "refused_token": 0,
            "refused_origin": 0,
            "refused_rate": 0,
            "malformed": 0,
            "clients": 0,
        }

    # ------------------------------------------------------------------ life
    def start(self) -> None:
        """Listen (raises OSError, e.g. when the port is taken) and serve in a thread."""
        ready = threading.Event()
        failure: list[BaseException] = []
        self._loop = asyncio.new_event_loop()

        def serve() -> None:
            asyncio.set_event_loop(self._loop)
            try:
                self._loop.run_until_complete(self._start())
            except BaseException as exc:  # noqa: BLE001 - reported to start()
                failure.append(exc)
                self._loop.close()
                ready.set()
                return
            ready.set()
            loop = self._loop
            loop.run_forever()
            loop.close()  # here, not at garbage collection (at exit its self-pipe may be gone)

        self._thread = threading.Thread(target=serve, name="web_operator", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._loop = None  # closed; stop() has nothing to do
            raise failure[0]

    async def _start(self) -> None:
        app = web.Application(client_max_size=MAX_BODY, middlewares=[self._headers])
        app.router.add_get("/", self._index)
        app.router.add_get("/ws", self._websocket)
        app.router.add_static("/static", STATIC, show_index=False, follow_symlinks=True)
        for name, handler in (
            ("init", self._init),
            ("point", self._point),
            ("stop", self._stop),
            ("remove", self._remove),
            ("threshold", self._threshold),
        ):
            app.router.add_post(f"/api/{name}", handler)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.bind, self.port).start()

    def stop(self) -> None:
        if self._loop is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop = None

    async def _shutdown(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # ------------------------------------------------------------------ pushing
    def publish_frame(self, stamp_ns: int, width: int, height: int, jpeg: bytes) -> None:
        """Thread-safe; a client still receiving the previous frame skips this one."""
        self._push(FRAME_HEADER.pack(stamp_ns, width, height) + jpeg)

    def publish_status(self, status: dict[str, Any]) -> None:
        """Thread-safe: the primary target's status."""
        self._push(json.dumps({"type": "status", **status}))

    def publish_targets(self, stamp_ns: str, targets: list[dict[str, Any]]) -> None:
        """Thread-safe: every target of one frame (boxes with ids and remove buttons)."""
        self._push(json.dumps({"type": "targets", "stamp_ns": stamp_ns, "targets": targets}))

    def _push(self, message: bytes | str) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._broadcast, message)

    def _broadcast(self, message: bytes | str) -> None:
        binary = isinstance(message, bytes)
        for ws in list(self._sockets):
            if binary and ws in self._busy:
                continue  # slow client (a phone on Wi-Fi): drop video frames, never statuses
            self._loop.create_task(self._send(ws, message, binary))

    async def _send(self, ws: web.WebSocketResponse, message: bytes | str, binary: bool) -> None:
        if binary:
            self._busy.add(ws)
        try:
            await (ws.send_bytes(message) if binary else ws.send_str(message))
        except (ConnectionError, RuntimeError):
            self._sockets.discard(ws)
        finally:
            self._busy.discard(ws)

    # ------------------------------------------------------------------ handlers
    @web.middleware
    async def _headers(self, request: web.Request, handler) -> web.StreamResponse:
        response = await handler(request)
        if not isinstance(response, web.WebSocketResponse):
            response.headers.update(SECURITY_HEADERS)
        return response

    async def _index(self, request: web.Request) -> web.Response:
        return web.FileResponse(STATIC / "index.html")

    def _foreign(self, request: web.Request) -> bool:
        """A browser page of another site (see guard.origin_ok); counted."""
        if origin_ok(request.headers.get("Origin"), request.host, self.allowed_origins):
            return False
        self.counts["refused_origin"] += 1
        return True

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        if self._foreign(request):
            return _reply(403, False, "this page belongs to another site: open the robot's own page")
        ws = web.WebSocketResponse(heartbeat=10.0, max_msg_size=1024)
        await ws.prepare(request)
        self.counts["clients"] += 1
        await ws.send_str(
            json.dumps({"type": "hello", "token_required": bool(self.token), **self.backend.hello()})
        )
        self._sockets.add(ws)
        try:
            async for message in ws:  # the page sends nothing; anything it sends is ignored
                if message.type == WSMsgType.ERROR:
                    break
        finally:
            self._sockets.discard(ws)
        return ws

    async def _guarded(
        self, request: web.Request, act: Callable[[Any], Awaitable[Outcome]], limited: bool
    ) -> web.Response:
        self.counts["requests"] += 1
        try:
            body = await self._admit(request, limited)
            outcome = await act(body)
        except RequestError as exc:
            if exc.status in MALFORMED:
                self.counts["malformed"] += 1
            return _reply(exc.status, False, str(exc))
        return _reply(200, outcome.ok, outcome.message, outcome.track_id)

    async def _admit(self, request: web.Request, limited: bool) -> Any:
        """The request's JSON body once origin, token, type, rate and body pass; RequestError
        (a 4xx with the reason, counted) for anything else."""
        if self._foreign(request):
            raise RequestError("requests from another site's page are refused", 403)
        if not token_ok(self.token, request.headers.get(TOKEN_HEADER)):
            self.counts["refused_token"] += 1
            raise RequestError(
                "this page may only watch: open it with the link that has the token (?token=...)", 401
            )
        if limited and not self.limit.allow(request.remote or "unknown"):
            self.counts["refused_rate"] += 1
            raise RequestError("too many init requests: wait a moment", 429)
        return await _json_body(request)

    async def _init(self, request: web.Request) -> web.Response:
        return await self._guarded(request, lambda body: self.backend.init(parse_init(body)), True)

    async def _point(self, request: web.Request) -> web.Response:
        return await self._guarded(request, lambda body: self.backend.point(parse_point(body)), True)

    async def _stop(self, request: web.Request) -> web.Response:
        return await self._guarded(request, lambda body: self.backend.stop(), False)

    async def _remove(self, request: web.Request) -> web.Response:
        return await self._guarded(request, lambda body: self.backend.remove(parse_remove(body)), False)

    async def _threshold(self, request: web.Request) -> web.Response:
        return await self._guarded(
            request, lambda body: self.backend.set_threshold(parse_threshold(body)), False
        )


async def _json_body(request: web.Request) -> Any:
    """The body as JSON, or the RequestError that refuses it: the one place a request is parsed,
    so every parsing failure of a header or body is a 4xx with the reason by construction."""
    try:
        json_type = request.content_type == "application/json"
        charset = request.charset
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise RequestError(f"the request body is larger than {MAX_BODY} bytes", 413) from None
    except (ValueError, LookupError, UnicodeError) as exc:  # headers aiohttp cannot parse
        raise RequestError(f"malformed request headers: {type(exc).__name__}", 400) from None
    if not json_type:
        raise RequestError("requests are JSON (Content-Type: application/json)", 415)
    return decode_json(body, charset)


def _reply(status: int, ok: bool, message: str, track_id: str = "") -> web.Response:
    return web.json_response({"ok": ok, "message": message, "track_id": track_id}, status=status)
