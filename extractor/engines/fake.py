"""An engine that answers from a queue of canned JSON texts: for tests of everything around the model."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence

from extractor.engines.base import Constraint, Prompt
from extractor.errors import GenerationFailed
from extractor.types import Generation


class FakeEngine:
    """Answers each prompt with the next queued text, or with `respond(prompt)` when given.

    `respond` may raise `GenerationFailed` (the engine failing on that prompt). `refuse(constraint)`
    stands for a grammar the engine cannot compile: when it returns a reason, the constraint's
    fallback is used instead, as real engines do (engines/constraints.py), or the prompt fails.
    """

    def __init__(
        self,
        answers: Iterable[str] = (),
        *,
        respond: Callable[[Prompt], str] | None = None,
        refuse: Callable[[Constraint], str | None] | None = None,
        model_id: str = "fake",
        max_context_tokens: int = 4096,
        fingerprint: str | None = None,
    ):
        self.answers = deque(answers)
        self.respond = respond
        self.refuse = refuse
        self.model_id = model_id
        self.fingerprint = fingerprint or model_id
        self.schema_fingerprint: str | None = None
        self.max_context_tokens = max_context_tokens
        self.prompts: list[Prompt] = []
        self.batch_sizes: list[int] = []
        self.constraints: list[Constraint] = []

    def generate(
        self, prompts: Sequence[Prompt], constraints: Sequence[Constraint], max_new_tokens: int
    ) -> list[Generation]:
        self.prompts.extend(prompts)
        self.constraints.extend(constraints)
        self.batch_sizes.append(len(prompts))
        results = []
        for prompt, constraint in zip(prompts, constraints, strict=True):
            reason = self.refuse(constraint) if self.refuse and constraint is not None else None
            if reason and (constraint is None or constraint.fallback is None):
                raise GenerationFailed(f"grammar does not compile: {reason}")
            text = self.respond(prompt) if self.respond else self.answers.popleft()
            results.append(
                Generation(
                    text=text,
                    prompt_tokens=sum(self.count_tokens(m["content"]) for m in prompt),
                    completion_tokens=self.count_tokens(text),
                    finished=True,
                    fallback_reason=f"grammar does not compile: {reason}" if reason else "",
                )
            )
        return results

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def truncate(self, text: str, max_tokens: int) -> str:
        words = text.split(" ")
        return text if len(words) <= max_tokens else " ".join(words[:max_tokens])
