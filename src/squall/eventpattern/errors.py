from __future__ import annotations

from typing import Literal

Dialect = Literal["eventbridge", "sns", "lambda"]

_PREFIX: dict[str, str] = {
    "eventbridge": "Event pattern is not valid. Reason: ",
    "sns": "Invalid parameter: FilterPolicy: ",
    "lambda": "",
}


class PatternError(ValueError):
    """A pattern AWS would refuse.

    `message` is the whole text AWS gives for the dialect (the caller adds the
    error code: EventBridge `InvalidEventPatternException`, SNS
    `InvalidParameter`, Lambda `InvalidParameterValueException`); `reason` is
    the matcher's own explanation without the dialect's prefix (SNS's
    Subscribe wraps it as "Invalid parameter: Attributes Reason: FilterPolicy:
    <reason>").
    """

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.reason = message if reason is None else reason


def pattern_error(dialect: Dialect, reason: str) -> PatternError:
    if dialect == "lambda":
        # Lambda answers every bad FilterCriteria pattern with one sentence.
        return PatternError("Invalid filter pattern definition.", reason)
    return PatternError(_PREFIX[dialect] + reason, reason)
