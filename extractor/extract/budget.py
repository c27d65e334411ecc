"""How much document text fits in one prompt: the model's context, less the instructions, the chat
template and the answer budget."""

from __future__ import annotations

from extractor.config import RunConfig
from extractor.engines.base import Engine
from extractor.errors import ConfigError
from extractor.extract.prompt import instructions
from extractor.schema import SchemaInfo

MIN_DOCUMENT_TOKENS = 64
# Tokens the chat template and the prompt's fixed wording add around the document text.
TEMPLATE_SLACK_TOKENS = 64


def document_budget(engine: Engine, schema: SchemaInfo, config: RunConfig) -> int:
    """How many tokens of document text fit beside the instructions and the answer; a context too
    small for any is a ConfigError (it fails the run before any document is read)."""
    fixed = engine.count_tokens(instructions(schema)) + TEMPLATE_SLACK_TOKENS
    room = engine.max_context_tokens - config.max_new_tokens - fixed
    if room < MIN_DOCUMENT_TOKENS:
        raise ConfigError(
            f"the model's context ({engine.max_context_tokens} tokens) leaves {max(room, 0)} tokens for the document "
            f"after the instructions ({fixed}) and the answer budget ({config.max_new_tokens}); lower max_new_tokens"
        )
    return min(config.max_input_tokens, room)
