"""`sentinel discover --write`: add what is missing to alert_rules.yaml, as a diff a person reviews.

ruamel.yaml reads the file round-trip (with each node's line and column) and renders the additions in the file's
style. The additions are then spliced in as new lines: re-emitting the whole document would re-flow a person's
multi-line flow mappings, so the file is never re-emitted. The result must (1) only add lines (checked on the
diff) and (2) pass the same validation as `sentinel validate`; otherwise nothing is written.
"""

from __future__ import annotations

import difflib
import io
import os
import tempfile
from pathlib import Path
from typing import Any

from sentinel.config.spec import SentinelConfig
from sentinel.discovery.model import Discovery
from sentinel.discovery.plan import Additions, plan
from sentinel.errors import ConfigErrors, SentinelError


class WriteRefused(SentinelError):
    """--write would produce a config that does not validate or that changes a line a person wrote."""


def _yaml() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 110
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


_INLINE = {"schedule", "labels"}  # a check's small maps, written {every: 5m} in the shipped file


def _styled(value: Any, *, key: str | None = None, in_list: bool = False) -> Any:
    """The file's own style: lists of plain values, list items of plain values, schedule and labels inline.
    Lineage entries stay block maps, so a later --write can still add a field to them."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    plain = (str, int, float, bool)
    if isinstance(value, dict):
        out = CommentedMap((k, _styled(v, key=str(k))) for k, v in value.items())
        if all(isinstance(v, plain) for v in value.values()) and (in_list or key in _INLINE):
            out.fa.set_flow_style()
        return out
    if isinstance(value, list):
        seq = CommentedSeq(_styled(v, in_list=True) for v in value)
        if all(isinstance(v, plain) for v in value):
            seq.fa.set_flow_style()
        return seq
    return value


def _render(value: Any, indent: int) -> list[str]:
    buf = io.StringIO()
    _yaml().dump(_styled(value), buf)
    return [(" " * indent + line) if line else line for line in buf.getvalue().rstrip("\n").split("\n")]


def _block_end(lines: list[str], start: int, stop: int, min_indent: int) -> int:
    """The index after the last line of the block [start, stop): trailing blanks, and comments indented less than
    the block's content (they introduce what follows), stay after the insertion point."""
    end = stop
    while end > start:
        line = lines[end - 1]
        stripped = line.lstrip()
        if not stripped or (stripped.startswith("#") and len(line) - len(stripped) < min_indent):
            end -= 1
            continue
        break
    return end


def _next_key_line(mapping: Any, key: str, default: int) -> int:
    after = [mapping.lc.key(k)[0] for k in mapping if mapping.lc.key(k)[0] > mapping.lc.key(key)[0]]
    return min(after, default=default)


def splice(text: str, additions: Additions) -> tuple[str, list[str]]:
    """The file with the additions inserted as new lines; and what could not be added without a rewrite."""
    doc: Any = _yaml().load(text) or {}
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    notes: list[str] = []
    inserts: list[tuple[int, list[str]]] = []  # (index, lines), applied bottom-up

    if additions.checks:
        checks = doc.get("checks")
        if "checks" not in doc:
            inserts.append((len(lines), ["", *_render({"checks": additions.checks}, 0)]))
        elif not checks or not hasattr(checks, "lc") or checks.fa.flow_style():
            notes.append("checks: is not a block list (`checks: []`?); add the discovered checks by hand")
        else:
            start = doc.lc.key("checks")[0] + 1
            end = _block_end(lines, start, _next_key_line(doc, "checks", len(lines)), checks.lc.col + 1)
            inserts.append((end, _render(additions.checks, checks.lc.col - 2)))

    pipeline = doc.get("pipeline")
    if additions.tables and pipeline is None:
        inserts.append((len(lines), ["", "# Lineage found by `sentinel discover --write`: review, then keep.",
                                     *_render({"pipeline": {"tables": additions.tables}}, 0)]))
    elif pipeline is not None and (additions.tables or additions.fields):
        _pipeline_inserts(doc, pipeline, lines, additions, inserts, notes)

    # bottom-up so earlier indexes stay valid; at the same index, the later addition first so the order holds
    for _, index, block in sorted(((n, i, b) for n, (i, b) in enumerate(inserts)), key=lambda x: (-x[1], -x[0])):
        lines[index:index] = block
    return "\n".join(lines) + "\n", notes


def _pipeline_inserts(doc: Any, pipeline: Any, lines: list[str], additions: Additions,
                      inserts: list[tuple[int, list[str]]], notes: list[str]) -> None:
    pipe_end = _next_key_line(doc, "pipeline", len(lines))
    tables = pipeline.get("tables")
    if tables is None:
        if additions.tables:
            col = pipeline.lc.col
            end = _block_end(lines, pipeline.lc.line, pipe_end, col + 1)
            inserts.append((end, _render({"tables": additions.tables}, col)))
        return
    if not tables or tables.fa.flow_style():
        notes.append("pipeline.tables is written in flow style ({...}); add the discovered tables by hand")
        return
    col = tables.lc.col
    names = list(tables)
    for name, missing in additions.fields.items():
        entry = tables.get(name)
        if name not in tables:
            continue
        if not entry or not hasattr(entry, "lc") or entry.fa.flow_style():  # `name: {}` is flow style too
            notes.append(f"pipeline.tables.{name} is written in flow style; add by hand: "
                         + ", ".join(f"{k}: {v}" for k, v in missing.items()))
            continue
        following = [tables.lc.key(n)[0] for n in names if tables.lc.key(n)[0] > tables.lc.key(name)[0]]
        stop = min(following, default=_next_key_line(pipeline, "tables", pipe_end))
        start = tables.lc.key(name)[0] + 1
        inserts.append((_block_end(lines, start, stop, entry.lc.col + 1), _render(dict(missing), entry.lc.col)))
    if additions.tables:  # after the fields: at the same line (the last entry's end) these must come second
        stop = _next_key_line(pipeline, "tables", pipe_end)
        inserts.append((_block_end(lines, tables.lc.line, stop, col + 1), _render(additions.tables, col)))


def validate_text(text: str, where: Path) -> None:
    """The loader of `sentinel validate`, on the new text, from a file beside the config (runbooks resolve alike)."""
    from sentinel.compose_root import plan_checks
    from sentinel.config.loader import load_config
    from sentinel.plugins import check_registry

    fd, tmp = tempfile.mkstemp(prefix=f".{where.name}.", suffix=".discover", dir=where.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        registry = check_registry()
        plan_checks(load_config(Path(tmp), registry), registry)
    finally:
        os.unlink(tmp)


def write_config(path: Path, found: Discovery, spec: SentinelConfig, *, dry_run: bool,
                 dbt_location: str | None = None) -> str:
    """The unified diff of what is (or, dry_run, would be) added; notes about what was left out end it."""
    old = path.read_text(encoding="utf-8")
    additions = plan(found, spec, dbt_location=dbt_location)
    new, notes = splice(old, additions) if additions else (old, [])
    notes = [*additions.notes, *notes]
    diff = list(difflib.unified_diff(old.splitlines(), new.splitlines(), str(path), f"{path} (discovered)",
                                     lineterm=""))
    removed = [d for d in diff[2:] if d.startswith("-")]
    if removed:
        raise WriteRefused(f"{path}: adding the discovered lineage would change {len(removed)} existing line(s); "
                           f"nothing written (first: {removed[0][1:].strip()!r})")
    if new != old:
        try:
            validate_text(new, path)
        except ConfigErrors as exc:
            raise WriteRefused(f"{path}: the config with the discovered lineage would not validate; nothing "
                               f"written:\n{exc}") from None
        if not dry_run:
            tmp = path.with_name(f".{path.name}.discover-tmp")
            tmp.write_text(new, encoding="utf-8")
            os.replace(tmp, path)  # whole or not at all
    tail = [f"note: {n}" for n in notes]
    return "\n".join([*diff, *tail])
