"""What a model or alias name may be, and how long a reason may get.

Names become directory names (prediction logs, feedback, spool), metric labels and URL path
segments, so they are short identifiers: a letter or digit first, then letters, digits,
``_``, ``-`` and ``.``, at most 64 characters. ``../evil`` or ``a/b`` never reach a path.
"""

from __future__ import annotations

import re

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
MAX_REASON = 1000

_NAME = re.compile(NAME_PATTERN)


def is_name(value: object) -> bool:
    """True when ``value`` is a valid model or alias name."""
    return isinstance(value, str) and _NAME.match(value) is not None and ".." not in value


def name_problem(value: object, what: str) -> str | None:
    """Why ``value`` cannot be a ``what`` name (None when it can)."""
    if is_name(value):
        return None
    shown = repr(value) if len(repr(value)) <= 70 else repr(value)[:67] + "..."
    return (
        f"{what} name {shown} is not a short identifier: start with a letter or digit, then letters, "
        "digits, '_', '-' or '.', at most 64 characters"
    )
