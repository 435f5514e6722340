"""The validation error of DH-831: a request rejected with every rule it broke."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from consenthub.domain.errors import Code, DomainError, FieldError


@dataclass(frozen=True)
class Problem:
    """One rule broken by one field."""

    code: Code
    field: str
    rule: str | None = None


class RequestRejected(DomainError):
    """The rejected ACK: every rule the request broke, each with its code and field;
    nothing of it is stored."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__(
            problems[0].code,
            fields=[
                FieldError(problem.field, problem.rule or problem.code.value)
                for problem in problems
            ],
        )
        self.problems = tuple(problems)
