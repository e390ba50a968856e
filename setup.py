"""pip packaging of the ROS-free core (`pip install .`); colcon builds the ROS package through
CMakeLists.txt/package.xml instead (see README, "Package structure")."""

from setuptools import find_packages, setup

setup(
    name="hit_tracker_ros",
    version="0.1.0",
    description="Single-target visual tracking (HiT, MixFormerV2, CompressTracker, E.T.Track, CSRT) "
    "with a ROS 2 node",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["hit_tracker_ros", "hit_tracker_ros.*"]),
    package_data={"hit_tracker_ros.web": ["static/*"]},
    install_requires=["numpy", "opencv-contrib-python-headless"],
    extras_require={"dev": ["pytest", "ruff", "PyYAML"]},
)
