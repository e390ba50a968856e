# Shared paths and the environment activation of the development workspace.
# Sourced by scripts/setup and scripts/run; not meant to be executed.
#
# Layout: the Python venv (ROS 2 wheels) and the generated vision_msgs live in a cache folder
# outside the checkout, keyed by the hash of what defines them (CMake refuses exported include
# dirs inside the source tree, and clones can share it); this package's colcon build and
# install space live in .ws/ inside the checkout.

HTR_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# The ROS 2 distribution of the environment: kilted (the default, `make test`) or jazzy (`make
# test-jazzy`). Each has its own cached venv and its own colcon workspace.
HTR_DISTRO="${HTR_DISTRO:-kilted}"
case "$HTR_DISTRO" in
  kilted) HTR_WS="$HTR_ROOT/.ws" ;;
  jazzy) HTR_WS="$HTR_ROOT/.ws-jazzy" ;;
  *) echo "HTR_DISTRO must be kilted or jazzy (PyPI has wheels of those), got '$HTR_DISTRO'" >&2; exit 2 ;;
esac
HTR_CACHE="${HTR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hit_tracker_ros}"
# Upstream launch, launch_ros, launch_testing, ros2 CLI and composition_interfaces sources (the PyPI
# wheels lack them; robots get them from apt). Optional: without them the tests that need them skip.
HTR_ROS2_PYTHON="${HTR_ROS2_PYTHON:-$HTR_ROOT/../shared/ros2_python}"

# Bump when the way scripts/setup creates the cached environment changes.
HTR_ENV_RECIPE=4

# The requirement files of this distribution's environment.
htr_requirements() {
  echo requirements/common.txt "requirements/ros-$HTR_DISTRO.txt" "requirements/constraints-$HTR_DISTRO.txt"
}

# Hash of everything that defines the cached environment.
htr_env_key() {
  (cd "$HTR_ROOT" && echo "$HTR_ENV_RECIPE $HTR_DISTRO" && cat $(htr_requirements) \
    $(find env/vision_msgs -type f | sort) && htr_ros2_python_key) | sha256sum | cut -c1-16
}

# Hash of the ROS 2 Python tool sources, or "absent".
htr_ros2_python_key() {
  if [ -d "$HTR_ROS2_PYTHON" ]; then
    # sources only: not what a pip build may have left there (build/, *.egg-info)
    (cd "$HTR_ROS2_PYTHON" && find . -type f -not -path '*/__pycache__/*' -not -path '*/build/*' \
      -not -path '*.egg-info/*' | sort | xargs sha256sum) | sha256sum
  else
    echo absent
  fi
}

# Sets HTR_ENV, HTR_VENV, HTR_PY for the environment given, or else the one recorded by setup.
htr_locate() {
  HTR_ENV=${1:-$(cat "$HTR_WS/env-path" 2>/dev/null || true)}
  HTR_VENV="$HTR_ENV/venv"
  HTR_PY="$HTR_VENV/bin/python"
}

# Puts the venv's ROS 2 (libraries, ament index, executables), the generated vision_msgs and
# (unless called as `htr_activate base`) this package's colcon install space into the shell.
htr_activate() {
  local site libs had_u=0
  export VIRTUAL_ENV="$HTR_VENV"
  export PATH="$HTR_VENV/bin:$PATH"
  site=$("$HTR_PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  libs="$HTR_VENV/lib"
  for d in "$site"/ros_*.libs; do [ -d "$d" ] && libs="$libs:$d"; done
  export LD_LIBRARY_PATH="$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export AMENT_PREFIX_PATH="$HTR_VENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
  export RMW_IMPLEMENTATION="${RMW_IMPLEMENTATION:-rmw_fastrtps_cpp}"
  # colcon's scripts read unset variables; relax nounset while sourcing them.
  case $- in *u*) had_u=1; set +u ;; esac
  local setups=("$HTR_ENV/underlay/install/setup.bash")
  [ "${1:-}" = base ] || setups+=("$HTR_WS/install/setup.bash")
  for setup in "${setups[@]}"; do
    # shellcheck disable=SC1090
    [ -f "$setup" ] && source "$setup"
  done
  [ "$had_u" = 1 ] && set -u
  return 0
}
