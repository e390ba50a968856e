"""Launch the operator page for a tracker: live video, drag-to-track, stop, threshold.

ros2 launch hit_tracker_ros web_operator.launch.py image_topic:=/camera/image_raw
ros2 launch hit_tracker_ros web_operator.launch.py bind:=0.0.0.0 \\
    token:=$(openssl rand -hex 8 | tee /dev/stderr)  # prints the token
"""

from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode
from launch_ros.parameter_descriptions import ParameterValue

from launch import LaunchDescription


def generate_launch_description() -> LaunchDescription:
    args = [
        DeclareLaunchArgument("namespace", default_value="", description="node namespace"),
        DeclareLaunchArgument("image_topic", default_value="/camera/image_raw", description="the camera"),
        DeclareLaunchArgument("tracker", default_value="/hit_tracker", description="the tracker node"),
        DeclareLaunchArgument("port", default_value="8080", description="TCP port of the page"),
        DeclareLaunchArgument(
            "bind", default_value="127.0.0.1", description="listen address (0.0.0.0: all; set a token)"
        ),
        DeclareLaunchArgument("token", default_value="", description="required for state changes when set"),
    ]
    node = LifecycleNode(
        package="hit_tracker_ros",
        executable="web_operator",
        name="web_operator",
        namespace=LaunchConfiguration("namespace"),
        output="screen",
        parameters=[
            {
                # typed: launch would read an all-digit token (openssl rand -hex) as an integer
                "tracker": ParameterValue(LaunchConfiguration("tracker"), value_type=str),
                "port": ParameterValue(LaunchConfiguration("port"), value_type=int),
                "bind": ParameterValue(LaunchConfiguration("bind"), value_type=str),
                "token": ParameterValue(LaunchConfiguration("token"), value_type=str),
            }
        ],
        remappings=[("image", LaunchConfiguration("image_topic"))],
    )
    return LaunchDescription(args + [node])
