"""Tools that run the real nodes over DDS: the node client (tests, demo, tools), the demo, the
through-the-node replay and benchmarks. The ROS-free tools (hit_tracker_ros.tools) import nothing
from here."""
