from __future__ import annotations

import torch

from extractor.engines.list_guard import JsonListScanner, ListGuard


def _scan(text: str) -> JsonListScanner:
    scanner = JsonListScanner()
    scanner.feed(text)
    return scanner


def test_scanner_remembers_which_array_repeated() -> None:
    assert _scan('{"a": [{"x": "1"}, {"x": "2"}').repeated_depth() is None
    assert _scan('{"a": [{"x": "1"}, {"x": "2"}, {"x": "1"}').repeated_depth() == 1
    assert _scan('{"a": [{"x": "1"}, {"x": "1"}, {"x": "').repeated_depth() == 1  # inside the next item
    assert _scan('{"a": ["p", "p"], "b": ["p"').repeated_depth() is None  # a closed array forgets
    assert _scan('{"a": [["p", "p"], ["q"').repeated_depth() is None


def test_would_continue_sees_merged_tokens_and_strings() -> None:
    scanner = _scan('{"a": [{"x": "1"}, {"x": "1')
    assert scanner.would_continue('"}, {', 1)  # closes the string and the object, then a separator
    assert not scanner.would_continue('"}]', 1)
    assert not scanner.would_continue(", 40 mm", 1)  # a comma inside the string
    assert not scanner.would_continue('"}', 1)


def test_scanner_ignores_brackets_and_quotes_inside_strings() -> None:
    scanner = _scan('{"a": ["x]\\"y", "x]\\"y"')
    assert scanner.repeated_depth() == 1 and len(scanner.stack) == 2
    assert not scanner.done
    scanner.feed("]}")
    assert scanner.done


def _guard_after(tokens: list[str], steps: list[int], scores: torch.Tensor) -> torch.Tensor:
    """Feed the row's tokens to a scanner, then let the guard restrict the next step's scores."""
    scanner = JsonListScanner()
    for step in steps:
        scanner.feed(tokens[step])
    row = scores[0].clone()
    ListGuard(tokens).restrict(scanner, row)
    return row.unsqueeze(0)


def test_guard_removes_tokens_that_would_continue_a_repeating_list() -> None:
    tokens = ['{"a": [', '"p"', ", ", "]", "]}", "x", '", "']
    repeated = [0, 1, 2, 1]  # {"a": ["p", "p"
    scores = _guard_after(tokens, repeated, torch.zeros(1, len(tokens)))
    assert torch.isfinite(scores[0]).tolist() == [True, True, False, True, True, True, True]
    not_repeated = [0, 1]
    scores = _guard_after(tokens, not_repeated, torch.zeros(1, len(tokens)))
    assert torch.isfinite(scores[0]).all()
    # when the grammar forbids every closing token, the guard leaves the scores alone
    masked = torch.full((1, len(tokens)), float("-inf"))
    masked[0, 2] = 0.0  # only the separator is allowed
    scores = _guard_after(tokens, repeated, masked)
    assert torch.isfinite(scores[0]).tolist() == [False, False, True, False, False, False, False]
