"""Every node's parameters are described once (a ParameterSpec table each node declares through
ManagedNode); the README's parameter tables and the example configs agree with those tables."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from hit_tracker_ros.control.follow import AXES
from hit_tracker_ros.ros import follow_controller, mavlink_bridge, parameters, web_operator

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
TABLES = {
    "tracker_node": parameters.TRACKER_PARAMETERS,
    "mavlink_bridge": mavlink_bridge.PARAMETERS,
    "follow_controller": follow_controller.PARAMETERS,
    "web_operator": web_operator.PARAMETERS,
}
# rclpy's own per-topic QoS overrides, documented beside the node's parameters
NOT_DECLARED = re.compile(r"^qos_overrides\.")


def readme_tables() -> dict[str, list[tuple[list[str], str]]]:
    """Per node: the rows (names, default cell) of the parameter table in its README section."""
    tables: dict[str, list] = {}
    node = None
    in_table = False
    for line in README.read_text().splitlines():
        heading = re.match(r"^#{2,3} .*?`(tracker_node|mavlink_bridge|follow_controller|web_operator)`", line)
        if heading:
            node = heading.group(1)
        if re.match(r"^\| (name|parameter) \| default \|", line):
            in_table = node is not None
            tables.setdefault(node, [])
            continue
        if in_table and line.startswith("| ---"):
            continue
        if in_table and line.startswith("| `"):
            cells = [c.strip() for c in line.strip("|").split(" | ")]
            tables[node].append((re.findall(r"`([^`]+)`", cells[0]), cells[1]))
        elif in_table:
            in_table = False
    return tables


def expand(names: list[str]) -> list[str]:
    """`<axis>.kp`, `.ki`, ... -> every axis with every field."""
    if names and names[0].startswith("<axis>."):
        fields = [names[0].removeprefix("<axis>.")] + [n.lstrip(".") for n in names[1:]]
        return [f"{axis}.{field}" for axis in AXES for field in fields]
    return names


def value(text: str):
    text = text.strip().strip("`")
    if text == '""':
        return ""
    if text in ("true", "false"):
        return text == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


@pytest.mark.parametrize("node", list(TABLES))
def test_the_readme_table_names_every_parameter_with_its_default(node):
    rows = readme_tables()[node]
    specs = {spec.name: spec.default for spec in TABLES[node]}
    documented = {}
    for names, default_cell in rows:
        names = expand(names)
        defaults = (
            default_cell.split(", ")
            if len(names) > 1 and "," in default_cell
            else [default_cell] * len(names)
        )
        for name, default in zip(names, defaults, strict=True):
            documented[name] = default
    documented = {n: d for n, d in documented.items() if not NOT_DECLARED.match(n)}
    assert set(documented) == set(specs), set(documented) ^ set(specs)
    for name, cell in documented.items():
        if cell == "config/follow.yaml":
            continue  # the gains: their defaults per axis are in the config the README points to
        assert value(cell) == specs[name] and type(value(cell)) in (type(specs[name]), int), (
            name,
            cell,
            specs[name],
        )


def test_every_table_entry_is_unique_and_described():
    for node, table in TABLES.items():
        names = [spec.name for spec in table]
        assert len(names) == len(set(names)), node
        assert all(spec.description for spec in table), node


def launched_parameters(launch_file: Path) -> list[tuple[str, str, ast.expr]]:
    """(executable, parameter, value expression) of every parameter dict a launch file gives a node."""
    found = []
    for call in ast.walk(ast.parse(launch_file.read_text())):
        keywords = {k.arg: k.value for k in getattr(call, "keywords", [])}
        if not isinstance(keywords.get("executable"), ast.Constant) or "parameters" not in keywords:
            continue
        for entry in ast.walk(keywords["parameters"]):
            if isinstance(entry, ast.Dict):
                for key, value in zip(entry.keys, entry.values, strict=True):
                    found.append((keywords["executable"].value, key.value, value))
    return found


@pytest.mark.parametrize("launch_file", sorted((ROOT / "launch").glob("*.launch.py")), ids=lambda p: p.name)
def test_launch_arguments_reach_parameters_with_the_tables_types(launch_file):
    """launch reads an argument the YAML way unless told its type: token:=4039268095940359 (from
    `openssl rand -hex 8`) became an integer and the operator page died on start, status_rate_hz:=20
    would too. Every argument given to a parameter is wrapped in ParameterValue with the type of the
    parameter's default in its node's table."""
    checked = 0
    for executable, name, value in launched_parameters(launch_file):
        default = {spec.name: spec.default for spec in TABLES[executable]}[name]
        if isinstance(value, ast.Constant):
            assert type(value.value) is type(default), (executable, name)
            continue
        call = ast.unparse(value)
        if call.startswith("PythonExpression("):
            assert type(default) is bool and ".lower() == 'true'" in call, (executable, name)
            continue
        assert call.startswith("ParameterValue(LaunchConfiguration("), (executable, name, call)
        assert call.endswith(f"value_type={type(default).__name__})"), (executable, name, call)
        checked += 1
    assert checked, "no launch argument reaches a parameter here"
