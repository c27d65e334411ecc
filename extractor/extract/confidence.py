"""Per-field confidence from the token log-probabilities of the answer.

The engine reports, for every answer token, its log-probability under the constraint (the
distribution renormalised over the tokens the grammar allowed; a forced token has probability 1)
and where it ends in the answer text. A field's confidence is the geometric mean probability of
the tokens that overlap its value's literal in the answer (quotes included: ending a string is a
decision too): 1.0 when every token was forced or certain, lower the less sure the model was.
"""

from __future__ import annotations

import bisect
import json
import math
import re
from collections.abc import Sequence

_LITERAL = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|true|false|null")


def leaf_spans(answer: str) -> dict[str, tuple[int, int]]:
    """Each leaf value's character span in a JSON answer, by path (`line_items[0].amount`), in the
    path convention of `extractor.schema.map_leaves`. Empty when the answer is not JSON."""
    spans: dict[str, tuple[int, int]] = {}
    try:
        end = _value(answer, _skip(answer, 0), "", spans)
    except (ValueError, IndexError):
        return {}
    return spans if _skip(answer, end) == len(answer) else {}


def field_confidence(answer: str, token_ends: Sequence[int], token_logprobs: Sequence[float]) -> dict[str, float]:
    """path -> confidence in [0, 1] for each leaf of the answer."""
    if not token_ends or len(token_ends) != len(token_logprobs):
        return {}
    confidences = {}
    for path, (start, end) in leaf_spans(answer).items():
        first = bisect.bisect_right(token_ends, start)  # first token ending after the value starts
        last = bisect.bisect_left(token_ends, end)  # the token holding the value's last character
        logprobs = token_logprobs[first : min(last, len(token_logprobs) - 1) + 1]
        confidences[path] = math.exp(sum(logprobs) / len(logprobs)) if logprobs else 1.0
    return confidences


def _skip(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t\r\n":
        i += 1
    return i


def _value(text: str, i: int, path: str, spans: dict[str, tuple[int, int]]) -> int:
    ch = text[i]
    if ch == "{":
        i = _skip(text, i + 1)
        if text[i] == "}":
            return i + 1
        while True:
            if text[i] != '"':
                raise ValueError("expected a key")
            key, i = json.decoder.scanstring(text, i + 1)  # type: ignore[attr-defined]
            i = _skip(text, i)
            if text[i] != ":":
                raise ValueError("expected ':'")
            i = _value(text, _skip(text, i + 1), f"{path}.{key}" if path else key, spans)
            i = _skip(text, i)
            if text[i] == "}":
                return i + 1
            if text[i] != ",":
                raise ValueError("expected ',' or '}'")
            i = _skip(text, i + 1)
    if ch == "[":
        i = _skip(text, i + 1)
        if text[i] == "]":
            return i + 1
        index = 0
        while True:
            i = _skip(text, _value(text, i, f"{path}[{index}]", spans))
            index += 1
            if text[i] == "]":
                return i + 1
            if text[i] != ",":
                raise ValueError("expected ',' or ']'")
            i = _skip(text, i + 1)
    if ch == '"':
        _, end = json.decoder.scanstring(text, i + 1)  # type: ignore[attr-defined]
        spans[path] = (i, end)
        return int(end)
    m = _LITERAL.match(text, i)
    if m is None:
        raise ValueError(f"unexpected {ch!r}")
    spans[path] = (i, m.end())
    return m.end()
