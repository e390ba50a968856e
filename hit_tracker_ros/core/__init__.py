"""ROS-free core of hit_tracker_ros: trackers, tracking sessions, image decoding, box geometry.

Nothing under this package imports rclpy; the ROS layer (`hit_tracker_ros.ros`) adapts it.
"""
