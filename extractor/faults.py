"""Named kill points for fault-injection tests of the nightly job.

`EXTRACTOR_KILL_AT=name` (or `name:N`, the N-th time that point is reached) makes the process
SIGKILL itself there, as an operator's `kill -9` or the OOM killer would. Unset (always, outside
tests), `point()` is one dictionary lookup. The points in the order a run passes them:

    after_plan, after_parse, after_extract,
    part_tmp_written, part_renamed, in_ledger_commit, ledger_committed,
    rewrite_tmp_written, rewrite_renamed,
    compact_tmp_written, compact_renamed, compact_committed
"""

from __future__ import annotations

import os
import signal

_ENV = "EXTRACTOR_KILL_AT"
_hits: dict[str, int] = {}


def _target() -> tuple[str, int] | None:
    spec = os.environ.get(_ENV)
    if not spec:
        return None
    name, _, count = spec.partition(":")
    return name, int(count or 1)


def point(name: str) -> None:
    target = _target()
    if target is None or target[0] != name:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] == target[1]:
        os.kill(os.getpid(), signal.SIGKILL)
