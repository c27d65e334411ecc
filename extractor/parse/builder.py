"""Accumulates document text while keeping page and section offsets exact."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from extractor.types import Page, Section


class TextBuilder:
    """Append text pieces; remember where each page and section starts and ends."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._length = 0
        self.pages: list[Page] = []
        self.sections: list[Section] = []

    @property
    def length(self) -> int:
        return self._length

    def add(self, text: str) -> tuple[int, int]:
        start = self._length
        if text:
            self._parts.append(text)
            self._length += len(text)
        return start, self._length

    def separate(self) -> None:
        """Make sure the next piece starts on a fresh paragraph."""
        if self._length and not self._parts[-1].endswith("\n\n"):
            self.add("\n" if self._parts[-1].endswith("\n") else "\n\n")

    def add_page(self, number: int, text: str, origin: str = "", ocr_confidence: float | None = None) -> None:
        self.separate()
        start, end = self.add(text.rstrip() + "\n")
        self.pages.append(Page(number=number, start=start, end=end, origin=origin, ocr_confidence=ocr_confidence))

    @contextmanager
    def section(self, name: str) -> Iterator[None]:
        self.separate()
        start = self._length
        yield
        self.sections.append(Section(name=name, start=start, end=self._length))

    def text(self) -> str:
        return "".join(self._parts)
