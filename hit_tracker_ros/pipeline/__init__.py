"""Tracking pipelines of the network families (ROS-free): crops, box mapping, scores."""
