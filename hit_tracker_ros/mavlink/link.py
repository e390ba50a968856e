"""A MAVLink 2 link (common dialect) that survives what links do in the field: a ground station
that goes away and comes back, garbage on the wire, a serial adapter unplugged and replugged.

One thread receives; any thread sends (sends are serialized). Errors never escape: they are
counted, logged once per kind, and the link reopens with a back-off.

UDP is parsed one datagram at a time: pymavlink treats it as a byte stream, so a garbage datagram
that looks like the start of a 255-byte frame would swallow the next real commands until enough
bytes arrived. A datagram never continues in the next one, so each gets a fresh parser. Streams
(TCP, serial) are parsed as streams, and recover from garbage as traffic flows.
"""

from __future__ import annotations

import os
import select
import threading
import time
from collections import Counter, deque
from typing import Any

os.environ.setdefault("MAVLINK20", "1")  # before pymavlink picks its wire protocol
from pymavlink import mavutil  # noqa: E402
from pymavlink.dialects.v20 import common as mav  # noqa: E402

SCHEMES = ("udpin:", "udpout:", "tcp:", "tcpin:")
REOPEN_BACKOFF_S = (0.5, 1.0, 2.0, 5.0)


def parse_url(url: str) -> tuple[str, int | None]:
    """(pymavlink device, baud): 'udpin:0.0.0.0:14550', 'udpout:host:port', 'tcp:host:port',
    'tcpin:0.0.0.0:5760', or a serial device with an optional baud rate, '/dev/ttyTHS1,921600'."""
    if url.startswith(SCHEMES):
        host_port = url.split(":", 1)[1]
        host, _, port = host_port.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"mavlink_url '{url}': expected {url.split(':')[0]}:<host>:<port>")
        return url, None
    if url.startswith("/") or url.upper().startswith("COM"):
        device, _, baud = url.partition(",")
        if baud and not baud.isdigit():
            raise ValueError(f"mavlink_url '{url}': the baud rate after ',' must be a number")
        return device, int(baud) if baud else 57600
    raise ValueError(
        f"mavlink_url '{url}' is not a connection: use udpin:<host>:<port>, udpout:<host>:<port>, "
        "tcp:<host>:<port>, tcpin:<host>:<port> or a serial device /dev/<tty>[,<baud>]"
    )


class MavlinkLink:
    def __init__(self, url: str, system_id: int, component_id: int, logger: Any) -> None:
        """logger: anything with info() and warning() (an rclpy logger, logging.Logger)."""
        self.device, self.baud = parse_url(url)
        self.url = url
        self.system_id = system_id
        self.component_id = component_id
        self._logger = logger
        self._conn: Any = None
        self._send_lock = threading.Lock()
        self._open_lock = threading.RLock()
        self._reopen_at = 0.0
        self._failures = 0
        self.stats: Counter[str] = Counter()
        self._logged: set[str] = set()
        self._datagrams = self.device.startswith(("udpin:", "udpout:"))
        self._pending: deque = deque()  # messages of the last datagram not yet returned

    # ------------------------------------------------------------------ connection
    def _open(self) -> bool:
        with self._open_lock:
            return self._conn is not None or self._open_now()

    def _open_now(self) -> bool:
        if time.monotonic() < self._reopen_at:
            return False
        kwargs: dict[str, Any] = dict(
            source_system=self.system_id, source_component=self.component_id, dialect="common"
        )
        if self.baud is not None:
            kwargs["baud"] = self.baud
        if self.device.startswith("tcp:"):
            kwargs.update(autoreconnect=True, retries=1)
        try:
            self._conn = mavutil.mavlink_connection(self.device, **kwargs)
        except Exception as exc:  # noqa: BLE001 - a missing device or a refused port: retry later
            self._failed("open", exc)
            return False
        self._conn.mav.robust_parsing = True
        self._failures = 0
        self.stats["opened"] += 1
        self._logger.info(
            f"MAVLink link open: {self.url} (system {self.system_id}, component {self.component_id})"
        )
        return True

    def _failed(self, what: str, exc: BaseException) -> None:
        self.stats[f"{what}_errors"] += 1
        delay = REOPEN_BACKOFF_S[min(self._failures, len(REOPEN_BACKOFF_S) - 1)]
        self._failures += 1
        self._reopen_at = time.monotonic() + delay
        key = f"{what}:{type(exc).__name__}"
        if key not in self._logged:
            self._logged.add(key)
            self._logger.warning(f"MAVLink {what} failed on {self.url}: {exc!r}; retrying every few seconds")
        self.close()

    def close(self) -> None:
        with self._open_lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - closing a broken link
                pass

    # ------------------------------------------------------------------ traffic
    def recv(self, timeout: float) -> Any | None:
        """The next well-formed message, or None after `timeout` (garbage is counted and skipped)."""
        if not self._open():
            time.sleep(min(timeout, 0.1))
            return None
        try:
            msg = (
                self._next_datagram_message(timeout)
                if self._datagrams
                else self._conn.recv_match(blocking=True, timeout=timeout)
            )
        except ConnectionRefusedError:  # UDP: an ICMP 'port unreachable' from a GCS that left
            self.stats["peer_unreachable"] += 1
            return None
        except Exception as exc:  # noqa: BLE001 - a dead serial port, a closed socket: reopen
            self._failed("receive", exc)
            return None
        if msg is None:
            return None
        kind = msg.get_type()
        if kind == "BAD_DATA" or kind.startswith("UNKNOWN"):
            self.stats["bad_data" if kind == "BAD_DATA" else "unknown_messages"] += 1
            return None
        self.stats["received"] += 1
        return msg

    def _next_datagram_message(self, timeout: float) -> Any | None:
        if not self._pending:
            if not select.select([self._conn.port], [], [], timeout)[0]:
                return None
            data = self._conn.recv()  # pymavlink also learns the peer's address here (udpin)
            if not data:
                return None
            parser = mav.MAVLink(None)
            parser.robust_parsing = True
            self._pending.extend(parser.parse_buffer(bytes(data)) or [])
            if parser.buf_len():
                self.stats["bad_data"] += 1  # a frame cut off at the datagram's end
        return self._pending.popleft() if self._pending else None

    def send(self, message: str, **fields: Any) -> bool:
        """Send `<message>_send(**fields)`; False when the link is down (the GCS may be away)."""
        with self._send_lock:
            if not self._open():
                return False
            try:
                getattr(self._conn.mav, f"{message}_send")(**fields)
            except ConnectionRefusedError:
                self.stats["peer_unreachable"] += 1
                return False
            except Exception as exc:  # noqa: BLE001 - the link broke: reopen later
                self._failed("send", exc)
                return False
            self.stats["sent"] += 1
            return True
