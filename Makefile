# Two commands matter: `make demo` (tracking demo over real DDS) and `make test` (all tests).
# Both create the environment from scratch on first use (scripts/setup; cached afterwards).
.PHONY: env demo test test-kilted test-jazzy test-gpu lint clean

env:
	scripts/setup

demo: env
	scripts/run python -m hit_tracker_ros.ros.tools.demo --out out/demo

# Every test on Kilted, and the ROS tests again on Jazzy, in three runs side by side
# (scripts/test: the ROS tests of each distro, and the computation-only tests under `nice`).
# Each run has two pytest-xdist workers (a file per worker at a time), each with one CPU thread
# per runtime, and each worker reserves its own ROS domain.
test: lint
	HTR_DISTRO=jazzy scripts/setup
	scripts/test all

# One distro alone: every test on Kilted; the ROS tests on Jazzy (rclpy 7.1, its own environment).
test-kilted: lint
	scripts/test kilted

test-jazzy:
	HTR_DISTRO=jazzy scripts/setup
	scripts/test jazzy

# GPU tests (TensorRT engines, CUDA backends, speed table): on a machine with CUDA and `tensorrt`.
test-gpu: env
	scripts/run python -m pytest test -m gpu -s

# ruff, the import contracts, and Python 3.10 syntax and library use (Humble's Python) by vermin
lint: env
	scripts/run ruff check hit_tracker_ros test launch scripts
	scripts/run scripts/check-imports
	scripts/run vermin --target=3.10- --violations --no-tips --eval-annotations -q hit_tracker_ros launch test

clean:
	rm -rf .ws .ws-jazzy out
