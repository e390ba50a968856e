# Two commands matter: `make demo` (tracking demo over real DDS) and `make test` (all tests).
# Both create the environment from scratch on first use (scripts/setup; cached afterwards).
.PHONY: env demo test test-jazzy test-gpu lint clean

env:
	scripts/setup

demo: env
	scripts/run python -m hit_tracker_ros.ros.tools.demo --out out/demo

# Two test workers (pytest-xdist, a file per worker at a time), each with one CPU thread per runtime
# (OMP_NUM_THREADS, which core.cpu respects): the suite is CPU-bound, and waits of one overlap the
# other's work. Each worker reserves its own ROS domain.
TEST_WORKERS ?= 2
PYTEST = OMP_NUM_THREADS=1 scripts/run python -m pytest -n $(TEST_WORKERS) --dist loadfile

test: lint
	$(PYTEST) test

# The ROS tests again on ROS 2 Jazzy (rclpy 7.1 from the ros-jazzy-* wheels), in its own environment.
test-jazzy:
	HTR_DISTRO=jazzy scripts/setup
	HTR_DISTRO=jazzy $(PYTEST) test -m ros

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
