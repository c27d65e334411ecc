"""Constraints -> llguidance matchers, the same way for every engine.

A grounded grammar is built per document, from its text; whatever llguidance makes of it is that
document's business, never the run's. When a constraint cannot be compiled (llguidance refuses the
grammar, or runs out of its compile budget on an unusual text) and it carries a `fallback` (the
schema's JSON Schema), the fallback is used and the reason is kept: the document's row says that it
was decoded under the JSON constraint, and why. Without a fallback, that prompt fails on its own
(`GenerationFailed`), and the other prompts of the batch go on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from extractor.engines.base import Constraint
from extractor.errors import GenerationFailed

# Fixed JSON separators and no free whitespace, so a weak model cannot spend its budget on
# indentation; the same layout the grounded grammars write.
_JSON_LAYOUT = {"whitespace_flexible": False, "key_separator": ": ", "item_separator": ", "}
_REASON_CHARS = 300  # of llguidance's message, kept in the row


@dataclass(frozen=True)
class Compiled:
    """A matcher ready for decoding (None: decode freely), and why the constraint's fallback was used
    instead of the constraint itself ("" when it was not)."""

    matcher: Any
    fallback_reason: str = ""


class MatcherFactory:
    """Compiles constraints against one tokenizer; JSON-Schema grammars are cached per schema."""

    def __init__(self, ll_tokenizer: Any):
        self.ll_tokenizer = ll_tokenizer
        self._json_grammars: dict[str, str] = {}

    def compile(self, constraint: Constraint | None) -> Compiled:
        if constraint is None:
            return Compiled(None)
        try:
            return Compiled(self.matcher(self.grammar(constraint)))
        except GenerationFailed as exc:
            if constraint.fallback is None:
                raise
            return Compiled(self.matcher(self.grammar(constraint.fallback)), str(exc))

    def grammar(self, constraint: Constraint) -> str:
        """The llguidance grammar for a constraint."""
        import llguidance

        if constraint.lark is not None:
            try:
                return str(llguidance.LLMatcher.grammar_from_lark(constraint.lark))
            except (ValueError, RuntimeError) as exc:
                raise GenerationFailed(f"grammar does not compile: {_short(str(exc))}") from exc
        assert constraint.json_schema is not None
        key = json.dumps(constraint.json_schema, sort_keys=True)
        if key not in self._json_grammars:
            schema = {**constraint.json_schema, "x-guidance": _JSON_LAYOUT}
            self._json_grammars[key] = str(llguidance.LLMatcher.grammar_from_json_schema(schema))
        return self._json_grammars[key]

    def matcher(self, grammar: str) -> Any:
        import llguidance

        matcher = llguidance.LLMatcher(self.ll_tokenizer, grammar, log_level=0)
        if matcher.is_error():
            raise GenerationFailed(f"grammar does not compile: {_short(matcher.get_error())}")
        return matcher


def _short(message: str) -> str:
    message = " ".join(message.split())
    return message if len(message) <= _REASON_CHARS else message[: _REASON_CHARS - 1] + "…"
