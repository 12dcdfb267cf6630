"""Reading alert_rules.yaml into data plus its node tree (for line numbers), refusing what YAML would accept
silently: bytes that are not UTF-8, duplicate keys (YAML keeps the last one), and unclosed brackets reported
where they were opened rather than where the parser gave up.

The text is parsed once: the composed node tree gives lines, and the same tree is constructed into data.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sentinel.config.secret_literals import (
    could_be_secret,
    looks_secret,
    secret_key,
    secret_value,
    text_could_hold_secret,
)
from sentinel.errors import ConfigErrors, ConfigProblem

_MERGE_TAG = "tag:yaml.org,2002:merge"
_STR_TAG, _SEQ_TAG, _MAP_TAG = "tag:yaml.org,2002:str", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"
_INT_TAG = "tag:yaml.org,2002:int"
# libyaml's SafeLoader when PyYAML was built with it: same safety, several times faster on big configs.
_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _SafeLoader(_BaseLoader):  # type: ignore[misc,valid-type]
    """The SafeLoader with its per-node resolver hooks trimmed: libyaml calls them in Python for every node, and
    they were a fifth of the time of a 25,000-check file. Same tags as SafeLoader, which has no path resolvers
    and no wildcard implicit resolvers (asserted below, so a PyYAML that adds some fails loudly here)."""

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        return None

    def ascend_resolver(self) -> None:
        return None

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        if kind is yaml.ScalarNode:
            if implicit[0]:
                for tag, regexp in self.yaml_implicit_resolvers.get(value[:1], ()):
                    if regexp.match(value):
                        return str(tag)
            return _STR_TAG
        return _SEQ_TAG if kind is yaml.SequenceNode else _MAP_TAG


assert None not in _BaseLoader.yaml_implicit_resolvers and not _BaseLoader.yaml_path_resolvers
_MISSING = object()
# Parser contexts whose start is where the user has to look: an opened bracket or quote never closed.
_OPENED = {
    "while parsing a flow mapping": "the '{' opened here is never closed with '}'",
    "while parsing a flow sequence": "the '[' opened here is never closed with ']'",
    "while scanning a quoted scalar": "the quote opened here is never closed",
}


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector. Parsing and validating a large file creates millions of acyclic
    objects; the full collections they trigger cost more than the work itself (25,000 checks: ~6 s instead of
    ~1.5 s). Nothing built while loading a config holds a cycle worth collecting early."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@dataclass(frozen=True)
class YamlDocument:
    data: Any
    root: yaml.Node | None
    secrets: list[tuple[yaml.Node, str]] = field(default_factory=list)  # credential-looking scalars, and what
    has_lines: bool = True  # False: read without a node tree (read_yaml_fast); read again for line numbers


class _NotPlain(Exception):
    """The fast reader met something only the node tree handles well: a duplicate key, a credential-looking value,
    an anchor, alias, tag or merge key, or malformed YAML."""


def read_yaml_fast(path: Path) -> YamlDocument | None:
    """The data of a plain, valid file without building its node tree (a 25,000-check file makes ~800,000 nodes,
    a third of `validate`'s time to build and free), or None when `read_yaml` must read it: anything unusual or
    wrong, whose problems need the tree's lines. The data is the same as read_yaml's."""
    text = _read_text(path)
    if "&" in text or "<<" in text:
        return None
    with gc_paused():
        try:
            return YamlDocument(_EventBuilder(text).build(), None, has_lines=False)
        except (_NotPlain, yaml.YAMLError, RecursionError):
            return None


def read_yaml(path: Path) -> YamlDocument:
    """Data and node tree of one YAML file, or ConfigErrors naming the file, line and fix."""
    file = str(path)
    text = _read_text(path)
    with gc_paused():
        return _parse(text, file)


def _parse(text: str, file: str) -> YamlDocument:
    try:
        loader = _SafeLoader(text)
        try:
            root = loader.get_single_node()
            builder = _Builder(loader, text)
            data = builder.build(root) if root is not None else None
        finally:
            loader.dispose()
    except yaml.reader.ReaderError as exc:
        raise ConfigErrors([_reader_problem(file, text, exc)]) from None
    except yaml.YAMLError as exc:
        raise ConfigErrors([_yaml_problem(file, exc)]) from None
    except RecursionError:
        raise ConfigErrors([ConfigProblem(file, "", "malformed YAML: nested too deeply", 1)]) from None
    if builder.repeated and root is not None:
        raise ConfigErrors(_duplicate_problems(file, root, builder.repeated))
    return YamlDocument(data, root, builder.secrets)


class _Builder:
    """Builds plain data from the node tree in one pass, noting every key repeated within a mapping (YAML would
    silently keep the last value).

    Strings, lists and mappings are built here; every other scalar tag (int, float, bool, null, timestamp) and merge
    keys go to the SafeConstructor, which also refuses tags that would construct objects. A collection reached again
    through an alias is built once, so the work is linear in the size of the file.
    """

    def __init__(self, loader: yaml.SafeLoader, text: str) -> None:
        self.loader = loader
        # Without '&' there are no anchors, so no node is reached twice; without '<<' no merge keys. Both are
        # rare in a config, and skipping their bookkeeping saves a third of the build time of a large file.
        self.built: dict[int, Any] | None = {} if "&" in text else None
        self.merges = "<<" in text
        self.repeated: list[tuple[yaml.Node, int]] = []  # (key node, line of the first occurrence)
        # Every scalar is judged for a credential as it is built, so no second walk of a large file is needed; and
        # when the whole text holds nothing a credential needs, no value can, and only the key names are judged.
        self.secrets: list[tuple[yaml.Node, str]] = []
        self.judge_values = text_could_hold_secret(text)

    def _judge(self, key: object, node: yaml.ScalarNode) -> None:
        what = secret_value(key, node)
        if what:
            self.secrets.append((node, what))

    def build(self, node: yaml.Node) -> Any:
        tag = node.tag
        if tag == _STR_TAG and type(node) is yaml.ScalarNode:
            if self.judge_values:
                self._judge(None, node)
            return node.value
        if self.built is not None and id(node) in self.built:
            return self.built[id(node)]
        if tag == _SEQ_TAG and type(node) is yaml.SequenceNode:
            value: Any = [self.build(item) for item in node.value]
        elif tag == _MAP_TAG and type(node) is yaml.MappingNode and not (self.merges and _has_merge(node)):
            value = self._mapping(node)
        else:
            value = self.loader.construct_object(node, deep=True)
        if self.built is not None:
            self.built[id(node)] = value
        return value

    def _mapping(self, node: yaml.MappingNode) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        scalar = yaml.ScalarNode
        for key_node, value_node in node.value:
            # Plain strings inline: most keys and values are, and a call per node is a third of the build time.
            key = key_node.value if key_node.tag == _STR_TAG and type(key_node) is scalar else self.build(key_node)
            try:
                repeated = key in out
            except TypeError:  # a list or mapping as a key (`? [a, b]`): no config key looks like that
                raise yaml.constructor.ConstructorError(None, None, "a mapping key must be a plain value, not a list or"
                                                        " mapping", key_node.start_mark) from None
            if repeated:
                first = next(k for k, _ in node.value if self.build(k) == key)
                self.repeated.append((key_node, first.start_mark.line + 1))
            if type(value_node) is scalar:
                text, tag = value_node.value, value_node.tag
                # the cheap tests inline (most scalars are neither under a secret key nor credential-shaped)
                if (text and secret_key(str(key))) or (self.judge_values and could_be_secret(text)):
                    self._judge(key, value_node)
                if tag == _STR_TAG:
                    out[key] = text
                elif tag == _INT_TAG and text.isdecimal() and text.isascii() and (text[0] != "0" or len(text) == 1):
                    # plain decimal (a leading 0 is octal in YAML 1.1, and '_' or '+' go the long way)
                    out[key] = int(text)
                else:
                    out[key] = self.build(value_node)
            else:
                out[key] = self.build(value_node)
        return out


class _EventBuilder:
    """Plain data straight from libyaml's events, judged as _Builder judges nodes; raises _NotPlain where _Builder
    would record a problem or needs the tree."""

    def __init__(self, text: str) -> None:
        self.loader = _SafeLoader(text)
        self.judge_values = text_could_hold_secret(text)

    def build(self) -> Any:
        loader = self.loader
        try:
            get = loader.get_event
            get()  # StreamStart
            if isinstance(loader.peek_event(), yaml.StreamEndEvent):
                return None
            get()  # DocumentStart
            value = self._value(get())
            get()  # DocumentEnd
            if not isinstance(get(), yaml.StreamEndEvent):
                raise _NotPlain("more than one document")
            return value
        finally:
            loader.dispose()

    def _value(self, event: Any, key: object = None) -> Any:
        kind = type(event)
        if kind is yaml.ScalarEvent:
            return self._scalar(event, key)
        if kind is yaml.MappingStartEvent and event.tag is None:
            return self._mapping()
        if kind is yaml.SequenceStartEvent and event.tag is None:
            get = self.loader.get_event
            out = []
            while type(item := get()) is not yaml.SequenceEndEvent:
                out.append(self._value(item))
            return out
        raise _NotPlain(kind.__name__)  # an alias or a tagged collection

    def _mapping(self) -> dict[Any, Any]:
        get = self.loader.get_event
        scalar, end = yaml.ScalarEvent, yaml.MappingEndEvent
        resolvers = self.loader.yaml_implicit_resolvers
        out: dict[Any, Any] = {}
        while type(event := get()) is not end:
            if type(event) is not scalar:
                raise _NotPlain("a collection as a key")
            # Inline the common case, a plain string no implicit resolver could claim: a call per scalar is a
            # third of the reading time of a large file.
            text = event.value
            if event.tag is None and not (event.implicit[0] and text[:1] in resolvers):
                key: Any = text
            else:
                key = self._scalar(event, None, is_key=True)
            if key in out:
                raise _NotPlain("duplicate key")
            event = get()
            if type(event) is scalar and event.tag is None and not self.judge_values \
                    and not (event.implicit[0] and event.value[:1] in resolvers) \
                    and not (event.value and secret_key(str(key))):
                out[key] = event.value
            else:
                out[key] = self._value(event, key)
        return out

    def _scalar(self, event: Any, key: object, is_key: bool = False) -> Any:
        if event.tag is not None:
            raise _NotPlain("a tag")
        value = event.value
        tag = self.loader.resolve(yaml.ScalarNode, value, event.implicit) if event.implicit[0] else _STR_TAG
        if not is_key and ((key is not None and value and secret_key(str(key)))
                           or (self.judge_values and tag == _STR_TAG and looks_secret(value))):
            raise _NotPlain("a credential-looking value")
        if tag == _STR_TAG:
            return value
        if tag == _INT_TAG and value.isdecimal() and value.isascii() and (value[0] != "0" or len(value) == 1):
            return int(value)
        node = yaml.ScalarNode(tag, value, event.start_mark, event.end_mark, event.style)
        return self.loader.construct_object(node, deep=True)


def _duplicate_problems(file: str, root: yaml.Node, repeated: list[tuple[yaml.Node, int]]) -> list[ConfigProblem]:
    """One problem per repeated key, with its YAML path (found by a walk that only a broken file pays for)."""
    paths = _key_paths(root, {id(key) for key, _ in repeated})
    return [ConfigProblem(file, paths.get(id(key), ""),
                          f"duplicate key {key.value!r} (first at line {first}); YAML would keep only the last one: "
                          "remove or merge one of them", key.start_mark.line + 1)
            for key, first in repeated]


def _key_paths(root: yaml.Node, wanted: set[int]) -> dict[int, str]:
    found: dict[int, str] = {}
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, str]] = [(root, "")]
    while stack:
        node, path = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                child = f"{path}.{key.value}" if path else str(key.value)
                if id(key) in wanted:
                    found[id(key)] = child
                stack.append((value, child))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, f"{path}[{i}]") for i, item in enumerate(node.value))
    return found


def _has_merge(node: yaml.MappingNode) -> bool:
    return any(key.tag == _MERGE_TAG for key, _ in node.value)


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


def _reader_problem(file: str, text: str, exc: yaml.reader.ReaderError) -> ConfigProblem:
    """A character YAML does not allow (NUL and other control characters): where it is, by line and column."""
    position = exc.position
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    character = exc.character if isinstance(exc.character, str) else chr(exc.character)
    return ConfigProblem(file, "", f"malformed YAML: control character #x{ord(character):04x} at column {column} is not "
                                   "allowed: remove it (is this a binary file?)", line)


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


def node_line(root: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
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
