"""Tracker networks on plain PyTorch, with the authors' checkpoint layouts (ROS-free)."""
