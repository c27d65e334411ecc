"""Stops a list from repeating itself: a logits processor that, once the model has written an
array item identical to an earlier item of the same array, forbids every token that would start
another item of that array.

Small models under a grammar constraint tend to loop inside lists (the same line item, again and
again) until the list's maxItems or the token budget runs out. JSON Schema's `uniqueItems` would
forbid that, but a grammar cannot express it. This guard does the next best thing. The repeated
item stays in the answer, so a document that really lists the same thing twice loses nothing;
only the loop after it is cut. Tokens often merge closing and separating characters (`"},`), so
the guard checks what each candidate token would do, not just the next character.

It runs after the grammar's own processor and only removes tokens the grammar allowed; if it
would remove all of them, it leaves the scores alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class _Frame:
    kind: str  # "[" or "{"
    item_start: int
    items: set[str] = field(default_factory=set)
    repeated: bool = False  # (arrays) an item equalled an earlier sibling


class JsonListScanner:
    """Follows JSON text character by character and remembers which arrays repeated an item."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.stack: list[_Frame] = []
        self.in_string = False
        self.escaped = False
        self.done = False

    def feed(self, piece: str) -> None:
        for ch in piece:
            self._char(ch)

    def repeated_depth(self) -> int | None:
        """Stack index of the innermost open array that has repeated an item, if any."""
        for depth in range(len(self.stack) - 1, -1, -1):
            if self.stack[depth].repeated:
                return depth
        return None

    def would_continue(self, piece: str, depth: int) -> bool:
        """Whether appending `piece` writes a separator of the array at stack index `depth`."""
        level, in_string, escaped = len(self.stack), self.in_string, self.escaped
        for ch in piece:
            if in_string:
                if escaped:
                    escaped = False
                elif ch == "\\":
                    escaped = True
                elif ch == '"':
                    in_string = False
            elif ch == '"':
                in_string = True
            elif ch in "[{":
                level += 1
            elif ch in "]}":
                level -= 1
                if level <= depth:
                    return False
            elif ch == "," and level == depth + 1:
                return True
        return False

    def _char(self, ch: str) -> None:
        pos = len(self.text)
        self.text.append(ch)
        if self.in_string:
            if self.escaped:
                self.escaped = False
            elif ch == "\\":
                self.escaped = True
            elif ch == '"':
                self.in_string = False
                self._value_closed(pos)
            return
        if ch == '"':
            self.in_string = True
        elif ch in "[{":
            self.stack.append(_Frame(ch, pos + 1))
        elif ch in "]}":
            if self.stack:
                self.stack.pop()
            self._value_closed(pos)
            if not self.stack:
                self.done = True
        elif ch == "," and self.stack and self.stack[-1].kind == "[":
            self.stack[-1].item_start = pos + 1

    def _value_closed(self, pos: int) -> None:
        """A string, object or array ending at `pos`: if it is an array item, compare it."""
        if not self.stack or self.stack[-1].kind != "[":
            return
        frame = self.stack[-1]
        item = "".join(self.text[frame.item_start : pos + 1]).strip()
        if item:
            frame.repeated = frame.repeated or item in frame.items
            frame.items.add(item)


class RepeatedItemGuard:
    """A transformers logits processor (call signature `(input_ids, scores) -> scores`)."""

    def __init__(
        self, token_strings: list[str], prompt_length: int, eos_token_id: int | None, comma_tokens: Any = None
    ):
        import torch

        self.token_strings = token_strings
        # Tokens holding a comma: the only ones that can continue a list. The engine passes its cached
        # mask so it is not rebuilt over the whole vocabulary for every batch.
        self.comma_tokens = (
            comma_tokens
            if comma_tokens is not None
            else torch.tensor(["," in s for s in token_strings], dtype=torch.bool)
        )
        self.prompt_length = prompt_length
        self.eos_token_id = eos_token_id
        self.scanners: list[JsonListScanner] = []

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        if not self.scanners:
            self.scanners = [JsonListScanner() for _ in range(input_ids.shape[0])]
        generated = input_ids.shape[1] - self.prompt_length
        for row, scanner in enumerate(self.scanners):
            if scanner.done:
                continue
            if generated > 0:
                token = int(input_ids[row, -1])
                if token != self.eos_token_id and token < len(self.token_strings):
                    scanner.feed(self.token_strings[token])
            depth = scanner.repeated_depth()
            if depth is None:
                continue
            allowed = torch.isfinite(scores[row])
            vocab = min(len(self.comma_tokens), scores.shape[1])
            candidates = (allowed[:vocab] & self.comma_tokens[:vocab].to(allowed.device)).nonzero().flatten()
            banned = [i for i in candidates.tolist() if scanner.would_continue(self.token_strings[i], depth)]
            if banned and len(banned) < int(allowed.sum()):
                scores[row, banned] = float("-inf")
        return scores
