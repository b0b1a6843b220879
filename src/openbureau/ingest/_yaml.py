"""Reading spec YAML strictly: a repeated key is an error, and codes stay text.

PyYAML's ``safe_load`` keeps the last of two equal keys without a word (a code table with a
key twice silently remaps every row of the first), and types plain scalars by YAML 1.1 rules:
the key ``07`` becomes the integer 7, ``yes`` the boolean True, ``1_000`` the integer 1000. A
furnisher's code is text, so every mapping key is kept as written, and so is every value of a
``codes`` table.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode

CODES_KEY = "codes"


class StrictSpecLoader(yaml.SafeLoader):
    """SafeLoader that refuses repeated keys (with both lines) and keeps keys as text."""

    def construct_mapping(self, node: Node, deep: bool = False) -> dict[Any, Any]:
        if not isinstance(node, MappingNode):
            raise ConstructorError(None, None, "expected a mapping", node.start_mark)
        self.flatten_mapping(node)
        mapping: dict[Any, Any] = {}
        first_line: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = (
                key_node.value
                if isinstance(key_node, ScalarNode)
                else self.construct_object(key_node, deep=True)
            )
            try:
                seen = first_line.get(key)
            except TypeError:
                raise ConstructorError(
                    None, None, "a mapping key must be text", key_node.start_mark
                ) from None
            if seen is not None:
                raise ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} (first at line {seen + 1}); YAML would "
                    "silently keep only the last",
                    key_node.start_mark,
                )
            first_line[key] = key_node.start_mark.line
            if key == CODES_KEY and isinstance(value_node, MappingNode):
                mapping[key] = self._codes(value_node)
            else:
                mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping

    def _codes(self, node: MappingNode) -> dict[Any, Any]:
        table = self.construct_mapping(node, deep=True)
        values = {k.value: v for k, v in node.value if isinstance(k, ScalarNode)}
        for key, value_node in values.items():
            if isinstance(value_node, ScalarNode):
                table[key] = value_node.value
        return table


def load_yaml(text: str) -> Any:
    """Parse YAML text with :class:`StrictSpecLoader`; raises ``yaml.YAMLError``."""
    return yaml.load(text, Loader=StrictSpecLoader)
