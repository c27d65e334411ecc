"""One exception tree. The branch says whose fault it is.

- ConfigError: the user's configuration (bad schema, missing model). Raised before any document
  is read; the CLI exits 2.
- InputError: one document is bad (missing, corrupt, encrypted, empty, too large, unsupported).
  Becomes a failed Record and an error row; the batch goes on.
- ExtractionError: the model's answer for one document was unusable (cut off, invalid), or the
  engine failed on that document alone (GenerationFailed). Also a failed Record, not a crash.
- EngineError: the engine itself cannot run (weights unreadable, device lost). Stops the run.
- OutputError: the output folder cannot be used (locked by another run, unreadable ledger).
  Stops the run before any document is read.

Anything else is a bug and is allowed to crash.
"""

from __future__ import annotations


class ExtractorError(Exception):
    """Root of all errors raised on purpose by extractor."""


class ConfigError(ExtractorError):
    """Bad configuration: unknown schema, unreadable model path, invalid option."""


class EngineError(ExtractorError):
    """The engine cannot load or run."""


class OutputError(ExtractorError):
    """The output folder cannot be used as asked."""


class OutputLocked(OutputError):
    """Another live run holds the output folder's lock."""


class DocumentError(ExtractorError):
    """A failure confined to one document; the pipeline records it and goes on.

    `doc_id` and `kind` are filled in when they are known (the file could be read), so the
    error row can name the document by content as well as by path.
    """

    doc_id: str | None = None
    kind: str | None = None


class InputError(DocumentError):
    """The input file itself is unusable."""


class MissingInput(InputError):
    pass


class UnsupportedType(InputError):
    pass


class CorruptInput(InputError):
    pass


class EncryptedInput(InputError):
    pass


class EmptyInput(InputError):
    pass


class TooLarge(InputError):
    pass


class EncodingError(InputError):
    pass


class OcrUnavailable(InputError):
    """A page needs OCR and Tesseract is not installed."""


class ParseTimeout(InputError):
    """The parser ran past its time limit on this file and was stopped."""


class ParserCrashed(InputError):
    """The parser died on this file (a crash in a native library, or its memory limit)."""


class ExtractionError(DocumentError):
    """The model's answer could not be turned into a valid record."""


class OutputTruncated(ExtractionError):
    pass


class InvalidOutput(ExtractionError):
    pass


class GenerationFailed(ExtractionError):
    """The engine failed on this document's prompt (a constraint it could not apply, a prompt over
    its context, an error inside the library for this input). The other documents go on."""


class ParserBug(ExtractorError):
    """extractor's own parsing code failed on a file: a bug to report, never a verdict on the input.

    Deliberately not a DocumentError. Raised when strict (`on_error="raise"` or EXTRACTOR_STRICT=1);
    otherwise it becomes the file's error row and its traceback is logged at ERROR.
    """
