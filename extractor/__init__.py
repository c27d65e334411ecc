"""extractor: private, local document extraction into typed tables.

import extractor
df = extractor.extract(["invoices/"], schema="invoice")
extractor.Extractor("invoice").run(["inbox/"], out="tables/")   # nightly: only what is new
extractor.read("tables/", "invoice")
"""

from extractor.api import Extractor, extract, read
from extractor.config import NightlyOptions, ParseLimits, RunConfig
from extractor.errors import (
    ConfigError,
    DocumentError,
    EngineError,
    ExtractionError,
    ExtractorError,
    InputError,
    OutputError,
    OutputLocked,
)
from extractor.job import Job
from extractor.parse import parse_file
from extractor.pipeline import RunResult, execute
from extractor.schema import SchemaInfo, load_schema
from extractor.types import Document, ErrorInfo, Record, Stage, Status

__all__ = [
    "ConfigError",
    "Document",
    "DocumentError",
    "EngineError",
    "ErrorInfo",
    "ExtractionError",
    "Extractor",
    "ExtractorError",
    "InputError",
    "Job",
    "NightlyOptions",
    "OutputError",
    "OutputLocked",
    "ParseLimits",
    "Record",
    "RunConfig",
    "RunResult",
    "SchemaInfo",
    "Stage",
    "Status",
    "execute",
    "extract",
    "load_schema",
    "parse_file",
    "read",
]
