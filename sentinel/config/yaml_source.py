"""Reading alert_rules.yaml into data plus its node tree (for line numbers), refusing what YAML would accept
silently: bytes that are not UTF-8, duplicate keys (YAML keeps the last one), and unclosed brackets reported
where they were opened rather than where the parser gave up.

The text is parsed once: the composed node tree gives lines, and the same tree is constructed into data.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sentinel.errors import ConfigErrors, ConfigProblem

# libyaml's SafeLoader when PyYAML was built with it: same safety, several times faster on big configs.
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MERGE_TAG = "tag:yaml.org,2002:merge"
# Parser contexts whose start is where the user has to look: an opened bracket or quote never closed.
_OPENED = {
    "while parsing a flow mapping": "the '{' opened here is never closed with '}'",
    "while parsing a flow sequence": "the '[' opened here is never closed with ']'",
    "while scanning a quoted scalar": "the quote opened here is never closed",
}


@dataclass(frozen=True)
class YamlDocument:
    data: Any
    root: yaml.Node | None


def read_yaml(path: Path) -> YamlDocument:
    """Data and node tree of one YAML file, or ConfigErrors naming the file, line and fix."""
    file = str(path)
    text = _read_text(path)
    try:
        loader = _SafeLoader(text)
        try:
            root = loader.get_single_node()
            data = loader.construct_document(root) if root is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise ConfigErrors([_yaml_problem(file, exc)]) from None
    duplicates = list(duplicate_keys(root, file))
    if duplicates:
        raise ConfigErrors(duplicates)
    return YamlDocument(data, root)


def _read_text(path: Path) -> str:
    file = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigErrors([ConfigProblem(file, "", "file not found (set SENTINEL_CONFIG_FILE or pass the path)")]) from None
    except IsADirectoryError:
        raise ConfigErrors([ConfigProblem(file, "", "is a directory; pass the alert_rules.yaml file inside it")]) from None
    except OSError as exc:
        raise ConfigErrors([ConfigProblem(file, "", f"cannot read: {exc.strerror}")]) from None
    try:
        return raw.decode("utf-8-sig")  # a leading BOM (Windows editors) is harmless
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        byte = raw[exc.start:exc.start + 1].hex()
        message = (f"not UTF-8 text: byte 0x{byte} at column {column} cannot be decoded; save the file as UTF-8 "
                   "(is it binary, or Latin-1 from another editor?)")
        raise ConfigErrors([ConfigProblem(file, "", message, line)]) from None


def _yaml_problem(file: str, exc: yaml.YAMLError) -> ConfigProblem:
    problem = getattr(exc, "problem", None) or str(exc)
    mark = getattr(exc, "problem_mark", None)
    context = getattr(exc, "context", None)
    context_mark = getattr(exc, "context_mark", None)
    if context in _OPENED and context_mark is not None:
        # The parser notices only where the next key starts; the mistake is the bracket or quote it names.
        where = f" (the parser gave up at line {mark.line + 1})" if mark is not None else ""
        return ConfigProblem(file, "", f"malformed YAML: {_OPENED[context]}{where}", context_mark.line + 1)
    line = mark.line + 1 if mark is not None else None
    hint = "; quote values that contain ': ' or start with a special character" if "mapping values" in problem else ""
    return ConfigProblem(file, "", f"malformed YAML: {problem}{hint}", line)


def duplicate_keys(root: yaml.Node | None, file: str) -> Iterator[ConfigProblem]:
    """Every key repeated within one mapping (YAML would silently keep the last value), at the repeat's line.

    Walks each node once (aliases are not followed twice), so this is linear in the size of the file.
    """
    seen_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, str]] = [(root, "")] if root is not None else []
    while stack:
        node, path = stack.pop()
        if id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first_line: dict[str, int] = {}
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.tag != _MERGE_TAG:
                    name = str(key.value)
                    if name in first_line:
                        yield ConfigProblem(
                            file, f"{path}.{name}" if path else name,
                            f"duplicate key {name!r} (first at line {first_line[name]}); YAML would keep only the "
                            "last one: remove or merge one of them",
                            key.start_mark.line + 1,
                        )
                    else:
                        first_line[name] = key.start_mark.line + 1
                    stack.append((value, f"{path}.{name}" if path else name))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, f"{path}[{i}]") for i, item in enumerate(node.value))


def line_of(root: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the deepest YAML node that loc reaches (the key itself for a mapping entry)."""
    node, line = root, (root.start_mark.line + 1 if root is not None else None)
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if key_node.value == part:
                    line = key_node.start_mark.line + 1
                    node = value_node
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def yaml_path(loc: tuple[Any, ...]) -> str:
    """('checks', 3, 'kind') -> 'checks[3].kind'."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text
