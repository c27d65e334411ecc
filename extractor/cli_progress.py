"""What `extractor run` and `extractor label` show while they work and when they end: progress
bars fed by the run's `on_plan` and `on_record` hooks, and a one-paragraph summary of the result."""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

if TYPE_CHECKING:
    from extractor.job import Job
    from extractor.labels.run import LabelResult
    from extractor.pipeline import RunResult
    from extractor.sink.store import Plan
    from extractor.types import Record


class RunProgress:
    """A progress bar for one job: planning, then one step per document, with ok/failed/OCR counts."""

    def __init__(self, console: Console, job: Job, *, disable: bool = False) -> None:
        self.job = job
        self.counts = {"ok": 0, "failed": 0, "ocr": 0}
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("ok {task.fields[ok]} · failed {task.fields[failed]} · OCR pages {task.fields[ocr]}"),
            TimeElapsedColumn(),
            console=console,
            disable=disable,
        )
        self.task: TaskID | None = None

    def __enter__(self) -> RunProgress:
        self.progress.__enter__()
        self.task = self.progress.add_task(f"planning {len(self.job.inputs)} inputs", total=None, ok=0, failed=0, ocr=0)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.progress.__exit__(exc_type, exc, tb)

    def on_plan(self, plan: Plan) -> None:
        assert self.task is not None
        todo = len(plan.todo) + len(self.job.inputs.missing)
        self.progress.update(self.task, description=f"extracting {self.job.schema.name}", total=todo)
        if plan.skipped:
            self.progress.console.print(f"{plan.skipped} inputs already done, skipped")

    def on_record(self, record: Record) -> None:
        assert self.task is not None
        self.counts["ok" if record.ok else "failed"] += 1
        self.counts["ocr"] += record.provenance.ocr_pages if record.provenance else 0
        c = self.counts
        self.progress.update(self.task, advance=1, ok=c["ok"], failed=c["failed"], ocr=c["ocr"])


def run_summary(job: Job, result: RunResult) -> str:
    """What a run did, in rich markup: processed, ok, failed, skipped and why, speed, model, where."""
    plan, out, name = result.plan, job.out, job.schema.name
    skipped = [
        f"{n} {what}"
        for n, what in (
            (plan.unchanged if plan else 0, "unchanged"),
            (plan.exhausted if plan else 0, "failed before, out of attempts"),
            (plan.duplicates if plan else 0, "duplicate content"),
            (len(plan.moved) if plan else 0, "moved (path updated)"),
            (len(plan.retired) if plan else 0, "replaced by new content"),
        )
        if n
    ]
    text = (
        f"[bold]{len(job.inputs)} inputs[/]: {len(result.records)} processed, [green]{result.ok} ok[/], "
        f"[red]{result.failed} failed[/]"
    )
    if result.fallbacks:
        text += f" · {result.fallbacks} decoded under the JSON Schema (grounded grammar fell back)"
    if skipped:
        text += f" · {', '.join(skipped)}"
    text += f" · {result.elapsed_s:.1f} s ({result.docs_per_minute:.1f} documents/min) · model {job.engine.model_id}"
    if out is not None:
        text += f"\n→ {out / name}/ and {out / (name + '.errors')}/ · `extractor status {out}`"
    return text


class LabelProgress:
    """Progress of `extractor label`: the candidates parsed and clustered, then the teacher's labels."""

    def __init__(self, console: Console, *, disable: bool = False) -> None:
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=disable,
        )
        self.parse: TaskID | None = None
        self.teacher: TaskID | None = None

    def __enter__(self) -> LabelProgress:
        self.progress.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.progress.__exit__(exc_type, exc, tb)

    def on_parsed(self, done: int, total: int) -> None:
        if self.parse is None:
            self.parse = self.progress.add_task("parsing and clustering", total=total)
        self.progress.update(self.parse, completed=done)

    def on_plan(self, plan: Plan) -> None:
        self.teacher = self.progress.add_task("teacher labelling", total=len(plan.todo))

    def on_record(self, record: Record) -> None:
        if self.teacher is not None:
            self.progress.update(self.teacher, advance=1)


def label_summary(result: LabelResult) -> str:
    """What a label run did, in rich markup."""
    text = (
        f"[bold]{result.candidates} documents[/] in {result.clusters} clusters · {result.picked} sent to the teacher"
        f" · [green]{result.added} labels added[/] · {result.labels} labels ({result.reviewed} reviewed) cover "
        f"{result.clusters_covered} of {result.clusters} clusters"
    )
    if result.run is not None and result.run.failed:
        text += f" · [red]{result.run.failed} failed[/] (error rows in {result.folder / 'teacher'})"
    if result.not_parsed:
        text += f" · {len(result.not_parsed)} did not parse"
    if result.dropped:
        text += f" · {result.dropped} labels of an older schema version dropped"
    return text
