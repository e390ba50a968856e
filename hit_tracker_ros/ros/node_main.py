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

    executor: SingleThreadedExecutor | None = None

    def interrupt(signum, frame) -> None:
        """Ends the spin: notes the signal and wakes the executor, which checks the note between
        callbacks. It never raises: Python runs this handler between any two bytecodes of the main
        thread, and a KeyboardInterrupt raised inside rclpy (mid-way through a Task's constructor,
        seen on Ctrl-C of the page) left half-built objects whose destructors printed tracebacks
        at exit; raised during the cleanup, it cut the cleanup short (seen under load)."""
        interrupted.set()
        if executor is not None:
            executor.wake()

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
        # Ctrl-C before ROS was up (or while the node was built): stop without spinning
        while rclpy.ok() and not interrupted.is_set():
            executor.spin_once()
    except ExternalShutdownException:
        pass
    except Exception:
        # rclpy's own handler shutting the context down while the executor is inside rclpy's C++
        # calls surfaces as other errors: RCLError ("the given context is not valid") while it
        # builds its wait set (Jazzy). Seen under load; it is a shutdown.
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
