"""A minimal MAVLink ground station for the tracking camera: what QGroundControl's tracking UI
sends, from a script. Tests and the benchmark drive the bridge with it; in the field it checks
the wiring before a flight:

  python -m hit_tracker_ros.mavlink.ground_station --url udpin:0.0.0.0:14550 info
  python -m hit_tracker_ros.mavlink.ground_station rect 0.4 0.4 0.6 0.6 --watch 3
  python -m hit_tracker_ros.mavlink.ground_station point 0.5 0.5
  python -m hit_tracker_ros.mavlink.ground_station stop
"""

from __future__ import annotations

import argparse
import math
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("MAVLINK20", "1")
from pymavlink import mavutil  # noqa: E402
from pymavlink.dialects.v20 import common as mav  # noqa: E402

from ..core.errors import cli  # noqa: E402

GCS_SYSTEM, GCS_COMPONENT = 255, mav.MAV_COMP_ID_MISSIONPLANNER


def _large_receive_buffer(conn: Any, size: int = 4 << 20) -> None:
    """A UDP socket that holds a burst of answers (a camera ACKs hundreds of commands at once when
    a sender's queued ones are replaced): the kernel's default buffer drops datagrams past about
    200 KB of them. Root may exceed rmem_max (SO_RCVBUFFORCE); others get what the kernel allows."""
    sock = getattr(conn, "port", None)
    if not isinstance(sock, socket.socket) or sock.type != socket.SOCK_DGRAM:
        return
    for option in (getattr(socket, "SO_RCVBUFFORCE", None), socket.SO_RCVBUF):
        if option is None:
            continue
        try:
            sock.setsockopt(socket.SOL_SOCKET, option, size)
            return
        except OSError:
            continue


class GroundStation:
    """Sends commands to one camera and records every message it receives (with arrival times)."""

    def __init__(self, url: str, target_system: int = 1, target_component: int = 100) -> None:
        self.conn = mavutil.mavlink_connection(
            url, source_system=GCS_SYSTEM, source_component=GCS_COMPONENT, dialect="common"
        )
        _large_receive_buffer(self.conn)
        self.target = (target_system, target_component)
        self.received: list[tuple[float, Any]] = []
        self._cond = threading.Condition()
        self._send_lock = threading.Lock()
        self._running = True
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._running = False
        self._thread.join(timeout=2)
        self.conn.close()

    def _read(self) -> None:
        while self._running:
            try:
                msg = self.conn.recv_match(blocking=True, timeout=0.1)
            except OSError:
                time.sleep(0.05)
                continue
            if msg is None or msg.get_type() == "BAD_DATA":
                continue
            with self._cond:
                self.received.append((time.monotonic(), msg))
                self._cond.notify_all()

    def heartbeat(self) -> None:
        """Announce ourselves (a udpin: camera learns where to send from this)."""
        with self._send_lock:
            self.conn.mav.heartbeat_send(
                mav.MAV_TYPE_GCS, mav.MAV_AUTOPILOT_INVALID, 0, 0, mav.MAV_STATE_ACTIVE
            )

    def command(
        self,
        command: int,
        *params: float,
        target: tuple[int, int] | None = None,
        confirmation: int = 0,
        source: tuple[int, int] | None = None,
    ) -> float:
        """Send COMMAND_LONG (`confirmation` > 0: a retransmission; `source`: as another client
        of this link); returns the send time (time.monotonic())."""
        p = list(params) + [0.0] * (7 - len(params))
        system, component = target or self.target
        with self._send_lock:
            mav_out = self.conn.mav
            mav_out.srcSystem, mav_out.srcComponent = source or (GCS_SYSTEM, GCS_COMPONENT)
            sent = time.monotonic()
            mav_out.command_long_send(system, component, command, confirmation, *p)
            mav_out.srcSystem, mav_out.srcComponent = GCS_SYSTEM, GCS_COMPONENT
        return sent

    def messages(self, kind: str, since: float = 0.0, where: Callable[[Any], bool] = lambda m: True) -> list:
        with self._cond:
            return [m for t, m in self.received if t >= since and m.get_type() == kind and where(m)]

    def wait(
        self,
        kind: str,
        since: float = 0.0,
        where: Callable[[Any], bool] = lambda m: True,
        timeout: float = 10.0,
    ) -> Any:
        """The first `kind` message received after `since` that satisfies `where`."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for t, m in self.received:
                    if t >= since and m.get_type() == kind and where(m):
                        return m
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no {kind} within {timeout:g} s")
                self._cond.wait(remaining)

    def ack(
        self, command: int, since: float, timeout: float = 10.0, source: tuple[int, int] | None = None
    ) -> Any:
        """The final COMMAND_ACK of `command` (not IN_PROGRESS) after `since`, to `source`."""
        to = source or (GCS_SYSTEM, GCS_COMPONENT)
        return self.wait(
            "COMMAND_ACK",
            since,
            lambda m: (
                m.command == command
                and m.result != mav.MAV_RESULT_IN_PROGRESS
                and (m.target_system, m.target_component) == to
            ),
            timeout,
        )

    def reason(self, since: float, timeout: float = 1.0) -> str:
        """The STATUSTEXT sent after `since` (MAVLink 2 chunks joined), or '' if none comes."""
        try:
            last = self.wait(
                "STATUSTEXT", since, lambda m: m.id == 0 or len(m.text) < 50, timeout
            )  # complete
        except TimeoutError:
            return ""
        return "".join(t.text for t in self.messages("STATUSTEXT", since, lambda m: m.id == last.id))

    def wait_for_camera_images(self, timeout: float = 20.0) -> Any:
        """The camera's CAMERA_INFORMATION once it names a resolution (our bridge does once it has
        the tracker's images; before, a track command is TEMPORARILY_REJECTED). Asked again at
        each of the camera's heartbeats."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            sent, _ = self.request(mav.MAV_CMD_REQUEST_MESSAGE, mav.MAVLINK_MSG_ID_CAMERA_INFORMATION)
            info = self.wait("CAMERA_INFORMATION", sent)
            if info.resolution_h:
                return info
            self.wait("HEARTBEAT", time.monotonic())
        raise TimeoutError(
            f"the camera reported no images (CAMERA_INFORMATION without a resolution) in {timeout:g} s"
        )

    def request(
        self, command: int, *params: float, attempts: int = 4, timeout: float = 1.5
    ) -> tuple[float, Any]:
        """The MAVLink command protocol as a GCS runs it: resend until an ACK arrives (a UDP
        datagram can be lost). Returns (time of the first send, ACK)."""
        first = None
        for attempt in range(attempts):
            sent = self.command(command, *params, confirmation=attempt)
            first = first or sent
            try:
                return first, self.ack(command, sent, timeout)
            except TimeoutError:
                continue
        raise TimeoutError(f"no COMMAND_ACK for command {command} after {attempts} attempts")

    def arrival(self, msg: Any) -> float:
        with self._cond:
            return next(t for t, m in self.received if m is msg)


def result_name(result: int) -> str:
    return mav.enums["MAV_RESULT"][result].name.removeprefix("MAV_RESULT_")


@cli
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="udpin:0.0.0.0:14550", help="where the camera's bridge sends to")
    parser.add_argument("--system", type=int, default=1, help="the camera's MAVLink system id")
    parser.add_argument("--component", type=int, default=100, help="the camera's component id")
    parser.add_argument("--watch", type=float, default=0.0, help="then print tracking statuses for N s")
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("info", help="request CAMERA_INFORMATION")
    rect = sub.add_parser("rect", help="track a rectangle (normalized corners)")
    for name in ("x1", "y1", "x2", "y2"):
        rect.add_argument(name, type=float)
    point = sub.add_parser("point", help="track around a point (normalized)")
    point.add_argument("x", type=float)
    point.add_argument("y", type=float)
    point.add_argument("--radius", type=float, default=0.0)
    sub.add_parser("stop", help="stop tracking")
    args = parser.parse_args(argv)

    gcs = GroundStation(args.url, args.system, args.component)
    try:
        print(f"waiting for the camera's HEARTBEAT on {args.url} ...", flush=True)
        gcs.heartbeat()
        gcs.wait("HEARTBEAT", where=lambda m: m.get_srcComponent() == args.component, timeout=10)
        if args.action == "info":
            command, params = mav.MAV_CMD_REQUEST_MESSAGE, (mav.MAVLINK_MSG_ID_CAMERA_INFORMATION,)
        elif args.action == "rect":
            command, params = mav.MAV_CMD_CAMERA_TRACK_RECTANGLE, (args.x1, args.y1, args.x2, args.y2)
        elif args.action == "point":
            command, params = mav.MAV_CMD_CAMERA_TRACK_POINT, (args.x, args.y, args.radius)
        else:
            command, params = mav.MAV_CMD_CAMERA_STOP_TRACKING, ()
        sent, ack = gcs.request(command, *params)
        print(f"COMMAND_ACK {result_name(ack.result)} after {(gcs.arrival(ack) - sent) * 1e3:.1f} ms")
        if ack.result != mav.MAV_RESULT_ACCEPTED:
            print(f"STATUSTEXT {gcs.reason(sent)}")
        if args.action == "info":
            info = gcs.wait("CAMERA_INFORMATION", sent)
            tracking = [name for flag, name in ((512, "point"), (1024, "rectangle")) if info.flags & flag]
            print(
                f"CAMERA_INFORMATION {info.resolution_h}x{info.resolution_v}, tracking: {', '.join(tracking)}"
            )
        end = time.monotonic() + args.watch
        while time.monotonic() < end:
            time.sleep(0.5)
            status = gcs.messages("CAMERA_TRACKING_IMAGE_STATUS", time.monotonic() - 0.5)
            if status:
                s = status[-1]
                corners = (s.rec_top_x, s.rec_top_y, s.rec_bottom_x, s.rec_bottom_y)
                box = "" if math.isnan(s.rec_top_x) else " [" + ", ".join(f"{v:.3f}" for v in corners) + "]"
                print(f"status {s.tracking_status} mode {s.tracking_mode}{box}")
        return 0 if ack.result == mav.MAV_RESULT_ACCEPTED else 1
    except TimeoutError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        gcs.close()


if __name__ == "__main__":
    sys.exit(main())
