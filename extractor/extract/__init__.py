"""Stage 2: Documents + schema + Engine -> Records.

`extract_batch` (batch.py) plans each document's parts, asks the engine for all of them together,
reads each answer (typed, validated, located in the text, with a confidence) and merges a
document's parts into its one Record (record.py). No document can stop the batch: a part the
engine fails on, or whose answer is unusable, fails that part; a document all of whose parts
failed becomes a failed Record.
"""

from extractor.extract.answer import parse_answer, validate
from extractor.extract.batch import extract_batch
from extractor.extract.budget import document_budget
from extractor.extract.record import is_fallback, review_reasons

__all__ = ["document_budget", "extract_batch", "is_fallback", "parse_answer", "review_reasons", "validate"]
