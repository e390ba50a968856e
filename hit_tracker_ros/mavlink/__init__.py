"""MAVLink Camera Protocol v2 for the tracker, without ROS: what commands mean, how a track
reads as CAMERA_TRACKING_IMAGE_STATUS, and the link (UDP, TCP, serial) that carries them."""
