"""ROS-free control laws that turn a tracked target into motion commands."""
