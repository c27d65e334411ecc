"""Named fault points for the fault-injection tests of the nightly job.

`EXTRACTOR_FAULT=name` (or `name:N`, the N-th time that point is reached in a process, and
optionally `=action`) makes the process fail there as an operator's `kill -9`, a crash in a
native library or a runaway parser would. Actions: `kill` (SIGKILL, the default), `abort`
(SIGABRT), `hang` (sleep forever), `eat` (allocate memory until refused), `raise` (a
RuntimeError raised here, in extractor's own code: what a bug of ours looks like to the parse
pool). Unset, as it always is outside tests, `point()` is one environment lookup.

The points of a run, in order:

    after_plan, parse <file name> (in the parse worker, or in-process), after_parse, after_extract,
    part_tmp_written, part_renamed, in_ledger_commit, ledger_committed,
    rewrite_tmp_written, rewrite_renamed,
    compact_tmp_written, compact_renamed, compact_committed
"""

from __future__ import annotations

import os
import signal
import time

_ENV = "EXTRACTOR_FAULT"
_hits: dict[str, int] = {}


def _target() -> tuple[str, int, str] | None:
    spec = os.environ.get(_ENV)
    if not spec:
        return None
    spec, _, action = spec.partition("=")
    name, sep, count = spec.rpartition(":")
    if not (sep and count.isdigit()):
        name, count = spec, "1"
    return name, int(count), action or "kill"


def point(name: str) -> None:
    target = _target()
    if target is None or target[0] != name:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] != target[1]:
        return
    action = target[2]
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif action == "abort":
        os.abort()
    elif action == "hang":
        while True:
            time.sleep(3600)
    elif action == "raise":
        raise RuntimeError(f"fault injected at {name!r}")
    elif action == "eat":
        hoard = []
        while True:
            hoard.append(bytearray(256 * 1024 * 1024))
