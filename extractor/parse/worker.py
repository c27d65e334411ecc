"""A parse worker process (`python -m extractor.parse.worker`), driven by `ParsePool`.

It reads its limits (a pickled ParseLimits, secrets included), then (index, path) tasks until None,
and answers each task with (index, Document | None, DocumentError | ParserBug | None, seconds,
traceback) on a private copy of stdout. An unexpected exception is classified by `parser_failure`:
ParserCrashed when a library failed on the file, ParserBug when extractor's own code did.
"""

from __future__ import annotations

import os
import resource
import time
import traceback
from multiprocessing.connection import Connection

from extractor import faults
from extractor.config import ParseLimits
from extractor.errors import DocumentError, ParserCrashed
from extractor.parse import ocr, parse_file
from extractor.parse.pool import PROTOCOL, parser_failure


def serve() -> None:
    """The worker: limits first, then (index, path) tasks until None, one answer per task."""
    # Answers travel on a private copy of stdout; fd 1 goes to stderr so that nothing a native
    # library prints can corrupt them.
    results = Connection(os.dup(1), readable=False)
    os.dup2(2, 1)
    tasks = Connection(os.dup(0), writable=False)
    limits = tasks.recv()
    assert isinstance(limits, ParseLimits), f"expected ParseLimits, got {type(limits).__name__}"
    if limits.max_parse_memory_mb:
        cap = limits.max_parse_memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    # Imports done: a task's time limit counts from its start, not ours. The protocol version
    # catches a worker started from newer code than the pool's (extractor upgraded mid-run).
    results.send(("ready", PROTOCOL))
    while True:
        try:
            task = tasks.recv()
        except EOFError:
            return
        if task is None:
            return
        index, path = task
        ocr.on_page = lambda index=index: results.send(("alive", index))
        t0 = time.perf_counter()
        try:
            faults.point(f"parse {os.path.basename(path)}")
            results.send((index, parse_file(path, limits), None, time.perf_counter() - t0, ""))
        except DocumentError as exc:
            results.send((index, None, exc, time.perf_counter() - t0, ""))
        except MemoryError:
            crash = ParserCrashed(f"the parser ran out of its memory limit ({limits.max_parse_memory_mb} MiB)")
            results.send((index, None, crash, time.perf_counter() - t0, ""))
        except Exception as exc:  # a library failing on a hostile file, or a bug of ours; the pool logs which
            failure = parser_failure(exc)
            results.send((index, None, failure, time.perf_counter() - t0, traceback.format_exc()))


if __name__ == "__main__":
    serve()
