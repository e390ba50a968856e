"""Offline tools (ROS-free): benchmarks and, later, replay and evaluation."""
