"""An engine that answers from a queue of canned JSON texts: for tests of everything around the model."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence

from extractor.engines.base import Constraint, Prompt
from extractor.types import Generation


class FakeEngine:
    """Answers each prompt with the next queued text, or with `respond(prompt)` when given."""

    def __init__(
        self,
        answers: Iterable[str] = (),
        *,
        respond: Callable[[Prompt], str] | None = None,
        model_id: str = "fake",
        max_context_tokens: int = 4096,
        fingerprint: str | None = None,
    ):
        self.answers = deque(answers)
        self.respond = respond
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
        for prompt in prompts:
            text = self.respond(prompt) if self.respond else self.answers.popleft()
            results.append(
                Generation(
                    text=text,
                    prompt_tokens=sum(self.count_tokens(m["content"]) for m in prompt),
                    completion_tokens=self.count_tokens(text),
                    finished=True,
                )
            )
        return results

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def truncate(self, text: str, max_tokens: int) -> str:
        words = text.split(" ")
        return text if len(words) <= max_tokens else " ".join(words[:max_tokens])
