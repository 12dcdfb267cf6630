"""How the CLI talks to a terminal: colour only on a real terminal, and never with NO_COLOR (https://no-color.org)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import IO

import pytest

from sentinel.output import use_color


@pytest.fixture
def terminal() -> Iterator[IO[str]]:
    """A real pseudo-terminal, so isatty() is the operating system's answer."""
    leader, follower = os.openpty()
    stream = os.fdopen(follower, "w")
    try:
        yield stream
    finally:
        stream.close()
        os.close(leader)


def test_colour_on_a_terminal_only(terminal: IO[str], tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert use_color(terminal)
    with open(os.path.join(tmp_path, "out.txt"), "w") as file:
        assert not use_color(file)


@pytest.mark.parametrize(("value", "colour"), [("1", False), ("true", False), ("", True)])
def test_no_color_set_to_anything_turns_colour_off(value: str, colour: bool, terminal: IO[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", value)
    assert use_color(terminal) is colour
