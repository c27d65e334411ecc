"""Long documents: split the text into parts that each fit the model's prompt, with overlap.

Each part is the longest run of text from its start that fits the token budget, ended at the best
boundary in its second half: a page break, else a paragraph break, else a line break, else a
sentence end, else wherever the budget ran out. The next part starts a little before the end of
the previous one (`overlap_tokens` of text, from a paragraph or line boundary), so a fact cut by
the boundary is whole in one of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from extractor.engines.base import Engine
from extractor.types import Document

# Boundary kinds, best first. A page break is where a page span starts.
_PARAGRAPH = re.compile(r"\n\s*\n")
_LINE = re.compile(r"\n")
_SENTENCE = re.compile(r"[.!?]\s")


@dataclass(frozen=True)
class Chunk:
    start: int  # character offsets in Document.text
    end: int


def split(doc: Document, engine: Engine, budget: int, overlap_tokens: int, max_chunks: int) -> list[Chunk]:
    """The document's parts, in order; one part covering everything when it fits the budget.
    Stops after `max_chunks` parts (the rest is left out, and the caller flags it truncated)."""
    text = doc.text
    end_of_text = len(text.rstrip())
    chunks: list[Chunk] = []
    start = _skip_space(text, 0)
    while start < end_of_text and len(chunks) < max_chunks:
        # Only a window is tokenised: a token is rarely over 16 characters, and a 1,000-page document
        # must not be tokenised again for every part.
        fits = engine.truncate(text[start : min(end_of_text, start + budget * 16)], budget)
        end = start + len(fits)
        if end < end_of_text:
            end = _best_cut(doc, start, end)
        chunks.append(Chunk(start, end))
        if end >= end_of_text:
            break
        start = max(_overlap_start(text, engine, start, end, overlap_tokens), start + 1)
    return chunks or [Chunk(0, len(text))]


def covered(chunks: list[Chunk], doc: Document) -> bool:
    """Whether the parts reach the end of the text (False when `max_chunks` cut it short)."""
    return bool(chunks) and chunks[-1].end >= len(doc.text.rstrip())


def _best_cut(doc: Document, start: int, end: int) -> int:
    """The best boundary in the second half of [start, end), else `end` moved back to whitespace."""
    middle = start + (end - start) // 2
    pages = [p.start for p in doc.pages if middle < p.start <= end]
    if pages:
        return max(pages)
    window = doc.text[middle:end]
    for pattern in (_PARAGRAPH, _LINE, _SENTENCE):
        cuts = [m.end() for m in pattern.finditer(window)]
        if cuts:
            return middle + cuts[-1]
    space = doc.text.rfind(" ", middle, end)
    return space + 1 if space > middle else end


def _overlap_start(text: str, engine: Engine, start: int, end: int, overlap_tokens: int) -> int:
    """Where the next part starts: the earliest line start within the last `overlap_tokens` of the
    part, else the part's end (no overlap)."""
    if overlap_tokens <= 0:
        return end
    window_start = max(start + 1, end - overlap_tokens * 8)  # a token is rarely over 8 characters long
    candidates = [m.end() for m in _LINE.finditer(text, window_start, end)]
    for at in candidates:  # earliest first: the longest overlap that fits
        if at < end and engine.count_tokens(text[at:end]) <= overlap_tokens:
            return at
    return end


def _skip_space(text: str, i: int) -> int:
    while i < len(text) and text[i].isspace():
        i += 1
    return i
