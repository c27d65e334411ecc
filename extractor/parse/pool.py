"""Parsing in worker processes, so that one hostile file cannot hang, crash or exhaust a run.

Each worker parses one file at a time under a memory limit. A file that takes longer than the
parse timeout has its worker killed and replaced, and becomes a `ParseTimeout`; a worker that dies
(a crash inside a native library) or runs out of its memory becomes `ParserCrashed`. Results come
back in input order. Workers parse ahead of the consumer (extraction) by a few files only, so
memory stays flat however many files there are.

Any other exception from parsing is classified by its innermost frame. Outside extractor (a library
failing on a hostile file) it becomes `ParserCrashed`, its traceback logged as a warning. Inside
extractor's own code it is a bug, `ParserBug`: raised when strict (EXTRACTOR_STRICT=1, as in the
tests), else the file's error row saying so, its traceback logged at ERROR. With `on_error="raise"`
the pipeline raises that row's ParserBug, the worker's traceback attached as a note.

Workers are plain `python -m extractor.parse.worker` subprocesses talking over pipes: they never
inherit the model or torch's threads, and, unlike multiprocessing's spawn, they never re-import
the caller's `__main__` (a user script without a main guard would run again in each worker).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path

from extractor import faults
from extractor.config import ParseLimits
from extractor.errors import DocumentError, EngineError, ParserBug, ParserCrashed, ParseTimeout
from extractor.parse import parse_file
from extractor.types import Document

log = logging.getLogger(__name__)

_START_TIMEOUT_S = 120
STRICT_ENV = "EXTRACTOR_STRICT"
_PACKAGE = Path(__file__).resolve().parent.parent  # extractor/
PROTOCOL = 3  # bump when the messages between pool and worker change (never import worker.py here:
# it runs as `python -m`, and a module imported before it runs as __main__ is loaded twice)


@dataclass(frozen=True)
class Parsed:
    """One file's parse: a Document, or the DocumentError that stopped it."""

    path: Path
    document: Document | None
    error: DocumentError | ParserBug | None  # ParserBug only when not strict
    seconds: float


def strict_from_env() -> bool:
    """Whether a bug in extractor's parsing code raises instead of becoming an error row."""
    return os.environ.get(STRICT_ENV) == "1"


def parser_failure(exc: Exception) -> ParserCrashed | ParserBug:
    """What an unexpected exception from parsing one file becomes, by where it was raised."""
    if not _raised_in_extractor(exc):
        return ParserCrashed(f"the parser failed: {type(exc).__name__}: {exc}")
    return ParserBug(
        f"internal error in extractor while parsing this file ({type(exc).__name__}: {exc}): a bug in "
        "extractor, not in the file; please report it with the traceback from the log"
    )


def _raised_in_extractor(exc: BaseException) -> bool:
    tb = exc.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    return Path(tb.tb_frame.f_code.co_filename).resolve().is_relative_to(_PACKAGE)


def parse_serially(paths: Iterable[Path], limits: ParseLimits, strict: bool | None = None) -> Iterator[Parsed]:
    """The same results in this process: no timeout, no isolation (for small trusted batches).

    `strict` (default: $EXTRACTOR_STRICT) raises `ParserBug` for a bug in extractor's parsing code.
    """
    strict = strict_from_env() if strict is None else strict
    for path in paths:
        t0 = time.perf_counter()
        try:
            faults.point(f"parse {path.name}")
            doc = parse_file(path, limits)
        except DocumentError as exc:
            yield Parsed(path, None, exc, time.perf_counter() - t0)
            continue
        except MemoryError:
            raise  # this process, model included, is out of memory: not one file's failure
        except Exception as exc:
            error = parser_failure(exc)
            if isinstance(error, ParserBug):
                if strict:
                    raise error from exc
                error.__cause__ = exc  # shown if the pipeline raises it (on_error="raise")
                log.error("internal error in extractor while parsing %s (please report it):", path, exc_info=exc)
            else:
                log.warning("parser failure on %s (recorded as an error row):", path, exc_info=exc)
            yield Parsed(path, None, error, time.perf_counter() - t0)
            continue
        yield Parsed(path, doc, None, time.perf_counter() - t0)


@contextlib.contextmanager
def parse_files(files: Iterable[Path], limits: ParseLimits, workers: int) -> Iterator[Iterator[Parsed]]:
    """Parsed files in order: from `workers` worker processes (timeouts, crash isolation), or in
    this process when `workers` is 0."""
    files = list(files)
    if workers == 0 or not files:
        yield parse_serially(files, limits)
        return
    with ParsePool(limits, workers=min(workers, len(files))) as pool:
        yield pool.map(files)


class ParsePool:
    """`with ParsePool(limits, workers=2) as pool: for parsed in pool.map(paths): ...`

    `strict` (default: $EXTRACTOR_STRICT) raises `ParserBug` for a bug in extractor's parsing code.
    """

    def __init__(self, limits: ParseLimits, workers: int = 1, strict: bool | None = None):
        self.limits = limits
        self.size = max(1, workers)
        self.strict = strict_from_env() if strict is None else strict
        self._workers: list[_Worker] = []

    def __enter__(self) -> ParsePool:
        self._workers = [self._start() for _ in range(self.size)]
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for worker in self._workers:
            worker.stop()
        self._workers = []

    def _start(self) -> _Worker:
        proc = subprocess.Popen(
            [sys.executable, "-m", "extractor.parse.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            close_fds=True,
            start_new_session=True,  # a Ctrl-C in the terminal is the main process's to handle
        )
        assert proc.stdin is not None and proc.stdout is not None
        # The connections own duplicates of the pipe ends; Popen's file objects are closed.
        results = Connection(os.dup(proc.stdout.fileno()), writable=False)
        tasks = Connection(os.dup(proc.stdin.fileno()), readable=False)
        proc.stdout.close()
        proc.stdin.close()
        worker = _Worker(proc, results, tasks)
        # The object itself, pickled: model_dump() leaves the PDF passwords out, on purpose.
        worker.send(self.limits)
        if not results.poll(_START_TIMEOUT_S):
            worker.kill()
            raise EngineError(f"a parse worker did not start within {_START_TIMEOUT_S} s")
        hello = results.recv()
        if hello != ("ready", PROTOCOL):
            worker.kill()
            raise EngineError(
                f"the parse worker speaks {hello!r}, this extractor expects ('ready', {PROTOCOL}): "
                "was extractor upgraded while this run was going? Run it again."
            )
        return worker

    def _replace(self, worker: _Worker) -> _Worker:
        worker.kill()
        fresh = self._start()
        self._workers[self._workers.index(worker)] = fresh
        return fresh

    def map(self, paths: Iterable[Path]) -> Iterator[Parsed]:
        todo = list(paths)
        timeout_s = self.limits.parse_timeout_s
        # Each OCR page announces itself and has its own timeout (enforced in the worker); the
        # file's deadline moves past it, so a long scan is not stopped for being long.
        page_grace_s = max(timeout_s, self.limits.ocr_page_timeout_s + 5)
        ahead = 2 * self.size
        results: dict[int, Parsed] = {}
        idle = list(self._workers)
        busy: dict[Connection, _Task] = {}
        sent = done = 0
        while done < len(todo):
            while idle and sent < len(todo) and sent < done + ahead:
                worker = idle.pop()
                worker.send((sent, str(todo[sent])))
                now = time.monotonic()
                busy[worker.conn] = _Task(worker, sent, now, now + timeout_s)
                sent += 1
            if done in results:
                yield results.pop(done)
                done += 1
                continue
            deadline = min(task.deadline for task in busy.values())
            for conn in wait(list(busy), timeout=max(0.0, deadline - time.monotonic())):
                task = busy[conn]  # type: ignore[index]
                try:
                    message = conn.recv()  # type: ignore[union-attr]
                except (EOFError, OSError):
                    del busy[conn]  # type: ignore[arg-type]
                    crash = ParserCrashed(_death(task.worker.exit_code()))
                    results[task.index] = Parsed(todo[task.index], None, crash, time.monotonic() - task.started)
                    idle.append(self._replace(task.worker))
                    continue
                if message[0] == "alive":
                    task.deadline = time.monotonic() + page_grace_s
                    continue
                del busy[conn]  # type: ignore[arg-type]
                results[task.index] = _received(todo[task.index], message, self.strict)
                idle.append(task.worker)
            now = time.monotonic()
            for conn, task in list(busy.items()):
                if now >= task.deadline and not conn.poll():
                    del busy[conn]
                    timeout = ParseTimeout(f"parsing took longer than {timeout_s:g} s; the parser was stopped")
                    results[task.index] = Parsed(todo[task.index], None, timeout, now - task.started)
                    idle.append(self._replace(task.worker))


@dataclass
class _Task:
    worker: _Worker
    index: int
    started: float
    deadline: float


@dataclass
class _Worker:
    proc: subprocess.Popen[bytes]
    conn: Connection  # results, from the worker's stdout
    tasks: Connection  # to the worker's stdin

    def send(self, message: object) -> None:
        self.tasks.send(message)

    def exit_code(self) -> int | None:
        try:
            return self.proc.wait(2)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        with contextlib.suppress(OSError):  # already dead
            self.send(None)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(2)
        self.kill()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for conn in (self.conn, self.tasks):
            with contextlib.suppress(OSError):
                conn.close()


def _received(
    path: Path, message: tuple[int, Document | None, DocumentError | ParserBug | None, float, str], strict: bool
) -> Parsed:
    _index, doc, error, seconds, trace = message
    if isinstance(error, ParserBug):
        error.add_note(f"traceback in the parse worker:\n{trace}")
        if strict:
            raise error
        log.error("internal error in extractor while parsing %s (please report it):\n%s", path, trace)
    elif trace:
        log.warning("parser failure on %s (recorded as an error row):\n%s", path, trace)
    return Parsed(path, doc, error, seconds)


def _death(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"the parser process died on this file ({name})"
    return f"the parser process exited unexpectedly on this file (exit code {exitcode})"
