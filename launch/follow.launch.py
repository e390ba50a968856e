"""Tracker, MAVLink bridge, follow controller and operator page in one namespace: pick the target in
the ground station's video or on the page (or by service, click or detector), and the gimbal and
the vehicle follow it.

  ros2 launch hit_tracker_ros follow.launch.py image_topic:=/camera/image_raw \\
      camera_info_topic:=/camera/camera_info mavlink_url:=udpout:192.168.1.10:14550 namespace:=drone1
  ros2 launch hit_tracker_ros follow.launch.py cmd_vel_topic:=/mavros/setpoint_velocity/cmd_vel

The controller starts disabled: `ros2 service call /<ns>/follow_controller/enable std_srvs/srv/SetBool
"{data: true}"`, or follow_enabled:=true. All parameters: config/follow.yaml (params_file).
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, GroupAction, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PythonExpression
from launch_ros.actions import LifecycleNode, PushRosNamespace
from launch_ros.parameter_descriptions import ParameterValue

from launch import LaunchDescription


def generate_launch_description() -> LaunchDescription:
    share = get_package_share_directory("hit_tracker_ros")
    args = [
        DeclareLaunchArgument("namespace", default_value="", description="namespace of all four nodes"),
        DeclareLaunchArgument("image_topic", default_value="/camera/image_raw", description="input images"),
        DeclareLaunchArgument(
            "camera_info_topic", default_value="/camera/camera_info", description="camera_info (bearings)"
        ),
        DeclareLaunchArgument(
            "compressed", default_value="false", description="use <image_topic>/compressed"
        ),
        DeclareLaunchArgument("model", default_value="csrt", description="tracker model"),
        DeclareLaunchArgument("checkpoint", default_value="", description="checkpoint file"),
        DeclareLaunchArgument("backend", default_value="auto", description="auto|torch|onnxruntime|tensorrt"),
        DeclareLaunchArgument(
            "mavlink_url",
            default_value="udpout:127.0.0.1:14550",
            description="ground station / autopilot link",
        ),
        DeclareLaunchArgument(
            "params_file",
            default_value=os.path.join(share, "config", "follow.yaml"),
            description="parameters of the four nodes",
        ),
        DeclareLaunchArgument(
            "follow_enabled", default_value="false", description="start the controller enabled"
        ),
        DeclareLaunchArgument(
            "cmd_vel_topic", default_value="follow_controller/cmd_vel", description="body velocity output"
        ),
        DeclareLaunchArgument(
            "gimbal_rate_topic",
            default_value="follow_controller/gimbal_rate",
            description="gimbal rates output",
        ),
    ]
    params_file = LaunchConfiguration("params_file")
    tracker = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(os.path.join(share, "launch", "tracker.launch.py")),
        launch_arguments={
            "image_topic": LaunchConfiguration("image_topic"),
            "camera_info_topic": LaunchConfiguration("camera_info_topic"),
            "compressed": LaunchConfiguration("compressed"),
            "model": LaunchConfiguration("model"),
            "checkpoint": LaunchConfiguration("checkpoint"),
            "backend": LaunchConfiguration("backend"),
            "params_file": params_file,
            "namespace": "",  # the group's PushRosNamespace already places it
        }.items(),
    )
    bridge = LifecycleNode(
        package="hit_tracker_ros",
        executable="mavlink_bridge",
        name="mavlink_bridge",
        namespace="",
        output="screen",
        parameters=[
            params_file,
            {
                # typed: launch guesses types YAML's way
                "mavlink_url": ParameterValue(LaunchConfiguration("mavlink_url"), value_type=str),
                "tracker": "hit_tracker",
            },
        ],
    )
    controller = LifecycleNode(
        package="hit_tracker_ros",
        executable="follow_controller",
        name="follow_controller",
        namespace="",
        output="screen",
        parameters=[
            params_file,
            {
                "enabled": PythonExpression(
                    ["'", LaunchConfiguration("follow_enabled"), "'.lower() == 'true'"]
                )
            },
        ],
        remappings=[
            ("status", "hit_tracker/status"),
            ("~/cmd_vel", LaunchConfiguration("cmd_vel_topic")),
            ("~/gimbal_rate", LaunchConfiguration("gimbal_rate_topic")),
        ],
    )
    web = LifecycleNode(
        package="hit_tracker_ros",
        executable="web_operator",
        name="web_operator",
        namespace="",
        output="screen",
        parameters=[params_file, {"tracker": "hit_tracker"}],
        remappings=[("image", LaunchConfiguration("image_topic"))],
    )
    group = GroupAction(
        [PushRosNamespace(LaunchConfiguration("namespace")), tracker, bridge, controller, web]
    )
    return LaunchDescription(args + [group])
