# Two commands matter: `make demo` (tracking demo over real DDS) and `make test` (all tests).
# Both create the environment from scratch on first use (scripts/setup; cached afterwards).
.PHONY: env demo test test-gpu lint clean

env:
	scripts/setup

demo: env
	scripts/run python -m hit_tracker_ros.ros.tools.demo --out out/demo

test: env
	scripts/run ruff check hit_tracker_ros test launch scripts
	scripts/run scripts/check-imports
	scripts/run python -m pytest test

# GPU tests (TensorRT engines, CUDA backends, speed table): on a machine with CUDA and `tensorrt`.
test-gpu: env
	scripts/run python -m pytest test -m gpu -s

lint: env
	scripts/run ruff check hit_tracker_ros test launch scripts
	scripts/run scripts/check-imports

clean:
	rm -rf .ws out
