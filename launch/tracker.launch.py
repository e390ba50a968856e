"""Launch the hit_tracker lifecycle node.

  ros2 launch hit_tracker_ros tracker.launch.py image_topic:=/camera/image_raw
  ros2 launch hit_tracker_ros tracker.launch.py model:=hit_tiny checkpoint:=/path/HiT_Tiny.pth.tar \
      backend:=onnxruntime image_topic:=/camera/image_raw compressed:=true namespace:=drone1
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition, UnlessCondition
from launch.substitutions import LaunchConfiguration, PythonExpression
from launch_ros.actions import LifecycleNode
from launch_ros.parameter_descriptions import ParameterValue

from launch import LaunchDescription


def generate_launch_description() -> LaunchDescription:
    default_params = os.path.join(get_package_share_directory("hit_tracker_ros"), "config", "csrt.yaml")
    args = [
        DeclareLaunchArgument("model", default_value="csrt", description="tracker model"),
        DeclareLaunchArgument("checkpoint", default_value="", description="checkpoint file"),
        DeclareLaunchArgument("backend", default_value="auto", description="auto|torch|onnxruntime|tensorrt"),
        DeclareLaunchArgument(
            "image_topic", default_value="/camera/image_raw", description="input image topic"
        ),
        DeclareLaunchArgument(
            "camera_info_topic",
            default_value="/camera/camera_info",
            description="camera_info of the same camera (bearings); any topic name if there is none",
        ),
        DeclareLaunchArgument(
            "compressed", default_value="false", description="use <image_topic>/compressed"
        ),
        DeclareLaunchArgument("namespace", default_value="", description="node namespace"),
        DeclareLaunchArgument("params_file", default_value=default_params, description="parameter YAML"),
        DeclareLaunchArgument("node_name", default_value="hit_tracker", description="node name"),
    ]
    image_topic = LaunchConfiguration("image_topic")
    compressed = LaunchConfiguration("compressed")

    def tracker(condition, remapping):
        return LifecycleNode(
            package="hit_tracker_ros",
            executable="tracker_node",
            name=LaunchConfiguration("node_name"),
            namespace=LaunchConfiguration("namespace"),
            output="screen",
            condition=condition,
            parameters=[
                LaunchConfiguration("params_file"),
                {
                    # typed: launch guesses types YAML's way (a checkpoint named 0407 is octal 263)
                    "model": ParameterValue(LaunchConfiguration("model"), value_type=str),
                    "checkpoint": ParameterValue(LaunchConfiguration("checkpoint"), value_type=str),
                    "backend": ParameterValue(LaunchConfiguration("backend"), value_type=str),
                    "use_compressed": PythonExpression(["'", compressed, "'.lower() == 'true'"]),
                },
            ],
            remappings=[remapping, ("camera_info", LaunchConfiguration("camera_info_topic"))],
        )

    return LaunchDescription(
        args
        + [
            tracker(UnlessCondition(compressed), ("image", image_topic)),
            tracker(IfCondition(compressed), ("image/compressed", [image_topic, "/compressed"])),
        ]
    )
