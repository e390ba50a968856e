"""Every node's parameters are described once (a ParameterSpec table each node declares through
ManagedNode); the README's parameter tables and the example configs agree with those tables."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hit_tracker_ros.control.follow import AXES
from hit_tracker_ros.ros import follow_controller, mavlink_bridge, parameters, web_operator

README = Path(__file__).resolve().parents[1] / "README.md"
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
