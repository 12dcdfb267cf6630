"""SQLite failures of the state store in words that say what to do: locked, full, corrupt.

sqlite3 says "database is locked" or "database or disk is full" without the file; a daemon log or a `check --once`
run must name the file and the way out instead of ending in a traceback.
"""

from __future__ import annotations

import sqlite3

from sentinel.errors import StoreError

BUSY_TIMEOUT_SECONDS = 10


def explain(path: str, exc: sqlite3.Error, *, opening: bool = False) -> StoreError:
    """`opening`: said while opening the store (then the message starts "cannot open state store ...")."""
    text = str(exc)
    lowered = text.lower()
    if "locked" in lowered or "busy" in lowered:
        problem = (f"is locked by another process (waited {BUSY_TIMEOUT_SECONDS}s): another Sentinel on the same "
                   "file, or a backup or sqlite3 shell holding a write lock")
    elif "full" in lowered or "too big" in lowered:
        problem = (f"cannot grow: the disk is full or the file hit a size limit ({text}); free space or move "
                   "SENTINEL_STATE_PATH, then results are stored again")
    elif "disk i/o error" in lowered:  # e.g. no room for the -shm/-wal files beside it on a full disk
        problem = (f"cannot be written ({text}): the disk is full or failing; free space or move SENTINEL_STATE_PATH")
    elif "malformed" in lowered or "not a database" in lowered or "corrupt" in lowered:
        problem = (f"is corrupt ({text}): move it aside and point SENTINEL_STATE_PATH at a fresh file (history and "
                   "alert states in it are lost; `sqlite3 FILE .recover` may save some)")
    elif "readonly" in lowered or "read-only" in lowered or "unable to open" in lowered:
        problem = f"cannot be written ({text}): check the file and directory exist and are writable"
    else:
        problem = f"failed: {text}"
    if opening:
        return StoreError(f"cannot open state store {path}: it {problem}" if not problem.startswith(("cannot", "failed"))
                          else f"cannot open state store {path}: {problem}")
    return StoreError(f"state store {path} {problem}")
