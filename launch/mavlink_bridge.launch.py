"""Launch the MAVLink bridge: the tracker as a MAVLink camera for a ground station or autopilot.

  ros2 launch hit_tracker_ros mavlink_bridge.launch.py mavlink_url:=udpout:192.168.1.10:14550
  ros2 launch hit_tracker_ros mavlink_bridge.launch.py mavlink_url:=/dev/ttyTHS1,921600 \\
      tracker:=/drone1/hit_tracker
"""

from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode
from launch_ros.parameter_descriptions import ParameterValue

from launch import LaunchDescription


def generate_launch_description() -> LaunchDescription:
    args = [
        DeclareLaunchArgument("namespace", default_value="", description="node namespace"),
        DeclareLaunchArgument(
            "mavlink_url",
            default_value="udpout:127.0.0.1:14550",
            description="udpin:/udpout:/tcp:/tcpin:<host>:<port> or /dev/<tty>,<baud>",
        ),
        DeclareLaunchArgument(
            "tracker", default_value="/hit_tracker", description="tracker node (absolute, or relative)"
        ),
        DeclareLaunchArgument("system_id", default_value="1", description="MAVLink system id"),
        DeclareLaunchArgument("component_id", default_value="100", description="MAVLink component id"),
        DeclareLaunchArgument("status_rate_hz", default_value="20.0", description="tracking status rate"),
        DeclareLaunchArgument(
            "video_latency", default_value="0.0", description="seconds the GCS video lags the camera"
        ),
    ]
    bridge = LifecycleNode(
        package="hit_tracker_ros",
        executable="mavlink_bridge",
        name="mavlink_bridge",
        namespace=LaunchConfiguration("namespace"),
        output="screen",
        parameters=[
            {
                # typed: launch guesses types YAML's way, so status_rate_hz:=20 would be an integer
                "mavlink_url": ParameterValue(LaunchConfiguration("mavlink_url"), value_type=str),
                "tracker": ParameterValue(LaunchConfiguration("tracker"), value_type=str),
                "system_id": ParameterValue(LaunchConfiguration("system_id"), value_type=int),
                "component_id": ParameterValue(LaunchConfiguration("component_id"), value_type=int),
                "status_rate_hz": ParameterValue(LaunchConfiguration("status_rate_hz"), value_type=float),
                "video_latency": ParameterValue(LaunchConfiguration("video_latency"), value_type=float),
            }
        ],
    )
    return LaunchDescription(args + [bridge])
