"""Log lines for people (the terminal) and for machines (`--log-file`: one JSON object per line).

The nightly job logs one line per document at DEBUG (source, doc_id, status, stage and reason of a
failure, timings) and a summary at INFO; the structured fields travel as `extra=` and appear as
keys of the JSON line.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def add_json_file(path: Path, level: int = logging.DEBUG) -> logging.Handler:
    """Append JSON lines to `path` (created with its folder) from every extractor logger."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(JsonLines())
    handler.setLevel(level)
    root = logging.getLogger("extractor")
    root.addHandler(handler)
    root.setLevel(min(root.getEffectiveLevel(), level))
    return handler
