"""ROS 2 layer: the lifecycle tracker node and message conversions (imports rclpy)."""
