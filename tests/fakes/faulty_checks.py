"""Check plugins that misbehave the way client libraries do: a native crash, a hang inside C code, a memory leak,
an exception. For the isolation tests (sentinel/isolation.py); ctypes is enough to reproduce each."""

from __future__ import annotations

import ctypes
import os
import time
from typing import Literal

from sentinel.api import Check, CheckContext, CheckResult, Params, Status


class FaultyParams(Params):
    fault: Literal["none", "segfault", "hang_in_c", "leak", "raise", "sleep"] = "none"
    seconds: float = 0.0
    doing: str = ""  # what the check says it waits on (ctx.doing) around its fault


class FaultyCheck(Check[FaultyParams]):
    """Counts its runs in check memory and reports the process it ran in, unless told to fail."""

    kind = "faulty"
    Params = FaultyParams
    runbook = "sql-threshold"

    def run(self, ctx: CheckContext) -> CheckResult:
        if self.params.doing:
            ctx.doing.current = self.params.doing
        fault = self.params.fault
        if fault == "segfault":
            ctypes.string_at(0)  # reads address 0: SIGSEGV, as librdkafka did on NOT_COORDINATOR
        elif fault == "hang_in_c":
            ctypes.CDLL(None).pause()  # blocks inside libc until a signal; no Python code runs
        elif fault == "leak":
            hoard = []
            while True:
                hoard.append(bytearray(b"\x01") * (32 * 2**20))  # touched pages: resident, not just reserved
        elif fault == "raise":
            raise RuntimeError("the client library gave up")
        elif fault == "sleep":
            time.sleep(self.params.seconds)
        runs = int(ctx.memory.load("runs") or 0) + 1
        ctx.memory.save("runs", runs)
        return ctx.result(self.kind, Status.OK, f"run {runs} at {ctx.now().isoformat()} in pid {os.getpid()}",
                          values={"runs": float(runs), "pid": float(os.getpid())})
