"""The `main` of every node of the package: spin one node on a single-threaded executor until
Ctrl-C, then let the node stop its own work before ROS shuts down."""

from __future__ import annotations

import faulthandler
import signal
import threading
from collections.abc import Callable

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

from ..core.cpu import configure_openmp


def spin_node(
    make_node: Callable[[], Node],
    stop: Callable[[Node], None],
    args: list[str] | None,
    publish_on_exit: bool = False,
) -> int:
    """`stop(node)` runs after spinning ends (Ctrl-C, SIGTERM from launch, external shutdown).

    publish_on_exit: the node must still publish in `stop` (a controller leaving a zero command).
    rclpy's own signal handler shuts ROS down the moment Ctrl-C arrives, so such a node takes
    SIGINT and SIGTERM itself; they take effect at its next wake-up (its timers keep that short).

    Every callback of our nodes only stores or validates (heavy work runs in worker threads), so
    one executor thread suffices; rclpy's MultiThreadedExecutor adds tens of ms of latency per
    message (measured on the tracker: image round trip median 31 ms, p90 128 ms vs 0.8 / 1.0 ms)."""
    configure_openmp()  # before PyTorch loads (OpenMP reads its wait policy once): core.cpu
    # `kill -USR1 <pid>` writes every thread's stack to stderr: a node that hangs says where
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    interrupted = threading.Event()

    def interrupt(signum, frame) -> None:
        """Ends the spin, once: a second signal, or one that lands after ROS is already shutting
        down (rclpy's own handler shuts the context down and Python runs this one later, maybe
        after the spin has returned and the cleanup began), only notes it. Raising then cut the
        cleanup short (a traceback and an abort, seen under load)."""
        first = not interrupted.is_set()
        interrupted.set()
        if first and rclpy.ok():
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupt)  # rclpy's own handler (if any) calls it after its own
    if publish_on_exit:
        rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
        signal.signal(signal.SIGTERM, interrupt)
    else:
        rclpy.init(args=args)
    node = make_node()
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        if not interrupted.is_set():  # Ctrl-C before ROS was up: stop without spinning
            executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        # Ctrl-C landing inside rclpy's C++ calls surfaces as other errors: RCLError ("the given
        # context is not valid") while the executor builds its wait set (Jazzy), or the
        # KeyboardInterrupt turned into pybind11's "Unable to convert call argument" while a
        # message is taken (Kilted). Both seen under load; both are a shutdown.
        if rclpy.ok() and not interrupted.is_set():
            raise
    finally:
        _ignore_repeated_interrupts()
        stop(node)
        executor.shutdown()
        node.destroy_node()
        if rclpy.ok():
            rclpy.try_shutdown()
        _ignore_repeated_interrupts()  # rclpy's shutdown restores the handlers it replaced
    return 0


def _ignore_repeated_interrupts() -> None:
    """Ctrl-C in the terminal of `ros2 launch` reaches every node of the launch, and launch then
    sends each one its own SIGINT: the second must not cut the node's cleanup short (it did: the
    bridge, controller and page died with -2 instead of stopping). SIGTERM still ends the process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
