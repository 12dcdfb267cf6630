"""The default notifier when nothing is configured: prints what would be sent."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any, ClassVar, TextIO

from sentinel.config.settings import Settings
from sentinel.notify.base import SendOutcome
from sentinel.notify.message import Message, plain_text


class ConsoleNotifier:
    channel: ClassVar[str] = "console"

    def __init__(self, name: str = "console", stream: TextIO | None = None) -> None:
        self.name = name
        self._stream = stream

    @classmethod
    def create(cls, name: str, options: Mapping[str, Any], settings: Settings) -> ConsoleNotifier:
        unknown = set(options) - {"stream"}
        if unknown:
            raise ValueError(f"console notifier {name!r}: unknown option(s) {sorted(unknown)}")
        stream = sys.stderr if options.get("stream") == "stderr" else None
        return cls(name, stream)

    def send(self, message: Message, ref: str | None = None) -> SendOutcome:
        stream = self._stream or sys.stdout
        if message.is_update and message.changes:
            # As Slack shows it: the original message is edited in place and the change is a thread reply,
            # so print only what changed instead of the whole message again.
            lines = "\n".join(f"  {change}" for change in message.changes)
            stream.write(f"--- would update [{self.name}] (key {message.key}: message edited, thread reply) ---\n"
                         f"{message.title}\n{lines}\n\n")
        else:
            kind = "update" if message.is_update else "new"
            stream.write(f"--- would notify [{self.name}] ({kind}, key {message.key}) ---\n{plain_text(message)}\n\n")
        stream.flush()
        return SendOutcome(ref=message.key)
