"""Run configuration: one object instead of twenty keyword arguments.

Every setting is declared once, here, with its default, bounds and description; the command line
reads its options from these models (`extractor.cli_options`), and `Cli` says how a setting is
spelled there when its name and type are not enough.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from extractor.errors import ConfigError

PDF_PASSWORDS_ENV = "EXTRACTOR_PDF_PASSWORDS_FILE"
MB = 2**20


@dataclass(frozen=True)
class Cli:
    """How a setting is spelled on the command line, where its field name and type are not enough.

    flag: the option's name without dashes (default: the field name, `_` as `-`);
    per_unit: the field value of one command-line unit (`MB`: the option is in MB, the field in bytes);
    read: turns the option's value (None when it is not given) into the field's value, and may read
        the environment; its ConfigError becomes a usage error naming the option;
    kind: the option's type when `read` takes something else than the field's type;
    hidden: no option (a setting for the Python API only).
    """

    flag: str | None = None
    per_unit: float = 1
    read: Callable[[Any], Any] | None = None
    kind: Any = None
    hidden: bool = False


def _read_pdf_passwords(path: Path | None) -> tuple[SecretStr, ...]:
    return ParseLimits.read_pdf_passwords(path)


class ParseLimits(BaseModel):
    """Per-document limits. A document over a limit becomes an error row, never a crash."""

    model_config = ConfigDict(frozen=True, extra="forbid", title="Parsing")

    max_file_bytes: Annotated[int, Cli("max-file-mb", per_unit=MB)] = Field(
        100 * MB, gt=0, description="Larger files become error rows (MB on the command line)"
    )
    max_pages: int = Field(1000, gt=0, description="PDFs with more pages become error rows")
    max_attachment_depth: int = Field(3, ge=0, description="Levels of attached emails followed")
    max_attachment_bytes: Annotated[int, Cli("max-attachment-mb", per_unit=MB)] = Field(
        100 * MB, gt=0, description="Attachment bytes read per email (MB on the command line)"
    )
    parse_timeout_s: Annotated[float, Cli("parse-timeout")] = Field(
        120.0, gt=0, description="Seconds one file may take to parse; a file that takes longer becomes an error row"
    )
    max_parse_memory_mb: int = Field(4096, ge=0, description="Address-space cap of a parse worker (0: none)")
    ocr: bool = Field(True, description="OCR scanned pages and images (False: they become error rows)")
    ocr_lang: str = Field(
        "eng", pattern=r"^[A-Za-z_]+(\+[A-Za-z_]+)*$", description="Tesseract languages, e.g. eng+fra"
    )
    ocr_dpi: int = Field(300, ge=50, le=1200, description="Resolution scanned pages are rendered at for OCR")
    ocr_page_timeout_s: float = Field(60.0, gt=0, description="OCR of one page that takes longer is stopped")
    # Secrets: left out of repr and of model_dump (so of anything that logs or stores a config); they
    # travel to parse workers inside the pickled ParseLimits itself.
    pdf_passwords: Annotated[tuple[SecretStr, ...], Cli(read=_read_pdf_passwords, kind=Path | None)] = Field(
        (),
        repr=False,
        exclude=True,
        description="Passwords tried in turn on password-protected PDFs; on the command line a file of them: "
        f"UTF-8, one per line, taken literally (default: the file named by ${PDF_PASSWORDS_ENV})",
    )

    @staticmethod
    def read_pdf_passwords(path: str | os.PathLike[str] | None = None) -> tuple[SecretStr, ...]:
        """The passwords in `path` (default: the file named by $EXTRACTOR_PDF_PASSWORDS_FILE, if set).

        UTF-8, one password per line, taken literally (spaces included; only the line ending is
        removed); empty lines are skipped. A file that cannot be read, or holds no password, is a
        ConfigError. No password is ever part of an error message.
        """
        what = "--pdf-passwords"
        if path is None:
            path = os.environ.get(PDF_PASSWORDS_ENV) or None
            what = f"${PDF_PASSWORDS_ENV}"
            if path is None:
                return ()
        try:
            text = Path(path).read_bytes().decode("utf-8-sig")  # Notepad's BOM is not part of a password
        except OSError as exc:
            raise ConfigError(f"{what}: cannot read the passwords file {path}: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{what}: the passwords file {path} is not UTF-8") from None
        lines = [line.removesuffix("\r") for line in text.split("\n")]
        passwords = tuple(SecretStr(line) for line in dict.fromkeys(lines) if line)
        if not passwords:
            raise ConfigError(f"{what}: the passwords file {path} holds no password (one per line)")
        return passwords


class RunConfig(BaseModel):
    """Everything a run needs besides its inputs, the schema and the engine."""

    model_config = ConfigDict(frozen=True, extra="forbid", title="Extraction")

    batch_size: int = Field(
        32, gt=0, description="Documents handed to the engine at once; it sorts them by length and batches them"
    )
    max_input_tokens: int = Field(2048, gt=64, description="Document tokens kept in the prompt")
    max_new_tokens: int = Field(1024, gt=0, description="Token budget for one answer")
    limits: ParseLimits = ParseLimits()
    parse_workers: int = Field(
        1, ge=0, description="Parse processes (0: parse in this process, without timeout or memory cap)"
    )
    on_error: Annotated[Literal["record", "raise"], Cli(hidden=True)] = Field(
        "record", description="record: a bad document becomes an error row; raise: its exception stops the run"
    )
    long_documents: Literal["chunk", "truncate"] = Field(
        "chunk",
        description="chunk: a document longer than the prompt budget is read in overlapping parts and the "
        "results merged; truncate: only its beginning is read",
    )
    chunk_overlap_tokens: int = Field(128, ge=0, description="Text repeated from the end of one part in the next")
    max_chunks: int = Field(64, gt=0, description="Parts read per document at most (the rest is left out, flagged)")
    min_confidence: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="Rows with a field under this confidence, or a value not found in the text, are flagged "
        "for review (_review column)",
    )
    # Grounded is the default because it won on the held-out test families of all three shipped
    # schemas (bench/results/zero-shot-grounded: macro F1 invoice 0.251 -> 0.397, customer_email
    # 0.240 -> 0.269, project_report 0.498 -> 0.697).
    decoding: Literal["json", "grounded"] = Field(
        "grounded",
        description="json: answers held to the schema's JSON Schema; grounded: extractive fields may only "
        "copy spans of the document (dates and amounts as printed, then parsed)",
    )


class NightlyOptions(BaseModel):
    """How a run into an output folder treats what it did before, and how often it commits."""

    model_config = ConfigDict(frozen=True, extra="forbid", title="Nightly runs")

    full: bool = Field(False, description="Process every input again, not only new or changed ones")
    max_attempts: int = Field(3, ge=1, description="Tries per failed document across runs")
    commit_every: int = Field(
        64, ge=1, description="Documents per commit: a kill loses at most this many documents' work"
    )
    commit_interval_s: float = Field(60.0, gt=0, description="Seconds between commits at most")
