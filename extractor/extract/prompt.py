"""The prompt: instructions and the field list from the schema, then the document text.

The same function builds the prompt at inference time and (later) for fine-tuning examples, so
the two cannot drift apart. The document text is the only untrusted part; it goes in the user
message, fenced, and the grammar constraint holds whatever it says to the schema.
"""

from __future__ import annotations

from dataclasses import dataclass

from extractor.engines.base import Message
from extractor.schema import FieldSpec, SchemaInfo

SYSTEM = (
    "You extract facts from a document into JSON. Copy values exactly as they appear in the document. "
    "Use null when the document does not state a value; never invent one. "
    "Write dates as YYYY-MM-DD and amounts as plain numbers like 1234.56."
)


@dataclass(frozen=True)
class PromptText:
    messages: tuple[Message, ...]
    truncated: bool


def field_lines(fields: tuple[FieldSpec, ...], indent: str = "") -> list[str]:
    lines = []
    for f in fields:
        optional = ", or null" if f.nullable else ""
        description = f": {f.description}" if f.description else ""
        lines.append(f"{indent}- {f.name} ({f.type_label}{optional}){description}")
        nested = f.fields or (f.item.fields if f.item is not None else ())
        lines.extend(field_lines(nested, indent + "  "))
    return lines


def instructions(schema: SchemaInfo) -> str:
    what = f" The document is expected to be: {schema.description}" if schema.description else ""
    return f"{SYSTEM}{what}\nFields:\n" + "\n".join(field_lines(schema.fields))


def build_prompt(schema: SchemaInfo, text: str, *, truncated: bool = False) -> PromptText:
    user = f"Document:\n<<<\n{text.strip()}\n>>>\nExtract the fields as JSON."
    return PromptText(
        messages=({"role": "system", "content": instructions(schema)}, {"role": "user", "content": user}),
        truncated=truncated,
    )
