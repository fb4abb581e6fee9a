"""Event patterns: one matcher for EventBridge rules, SNS filter policies and Lambda FilterCriteria.

    pattern = compile_pattern('{"source": ["aws.ec2"]}', dialect="eventbridge")
    pattern.matches(event)  # -> bool

Standard library only; services/ and engine/ may import it.
"""

from squall.eventpattern.compiler import Pattern, SnsScope, compile_pattern
from squall.eventpattern.documents import lambda_record_document, sns_attributes_document
from squall.eventpattern.errors import Dialect, PatternError

__all__ = [
    "Dialect",
    "Pattern",
    "PatternError",
    "SnsScope",
    "compile_pattern",
    "lambda_record_document",
    "sns_attributes_document",
]
