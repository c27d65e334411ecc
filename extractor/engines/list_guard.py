"""Stops a list from repeating itself: a guard on the scores that, once the model has written an
array item identical to an earlier item of the same array, forbids every token that would start
another item of that array.

Small models under a grammar constraint tend to loop inside lists (the same line item, again and
again) until the list's maxItems or the token budget runs out. JSON Schema's `uniqueItems` would
forbid that, but a grammar cannot express it. This guard does the next best thing. The repeated
item stays in the answer, so a document that really lists the same thing twice loses nothing;
only the loop after it is cut. Tokens often merge closing and separating characters (`"},`), so
the guard checks what each candidate token would do, not just the next character.

It runs after the grammar's mask and only removes tokens the grammar allowed; if it would remove
all of them, it leaves the scores alone.
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


class ListGuard:
    """Removes, from one row's scores, the tokens that would continue an array that repeated an item."""

    def __init__(self, token_strings: list[str]):
        import torch

        self.token_strings = token_strings
        # Tokens holding a comma: the only ones that can continue a list.
        self.comma_tokens = torch.tensor(["," in s for s in token_strings], dtype=torch.bool)

    def restrict(self, scanner: JsonListScanner, scores: Any) -> None:
        """`scores`: the row's 1-D logits after the grammar's mask (-inf where forbidden); changed in place."""
        import torch

        depth = scanner.repeated_depth()
        if depth is None:
            return
        allowed = torch.isfinite(scores)
        vocab = min(len(self.comma_tokens), scores.shape[0])
        candidates = (allowed[:vocab] & self.comma_tokens[:vocab].to(allowed.device)).nonzero().flatten()
        banned = [i for i in candidates.tolist() if scanner.would_continue(self.token_strings[i], depth)]
        if banned and len(banned) < int(allowed.sum()):
            scores[banned] = float("-inf")
