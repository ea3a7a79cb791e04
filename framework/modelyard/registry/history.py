"""Reading an alias's append-only history: who holds it, and whom a rollback goes back to.

Every backend derives rollback targets the same way, from its stored events, so the
rule lives here once: a promotion pushes its version on the alias's holder stack (unless
it already holds the alias), a rollback pops the top. The current holder is the top of
the stack; a rollback moves to the entry below it. So ``v1 -> v2 -> v3``, rollback (v2),
rollback (v1), rollback (NoPreviousHolder).
"""

from __future__ import annotations

from collections.abc import Iterable

from modelyard.registry.types import AliasEvent


def holder_stack(events: Iterable[AliasEvent]) -> list[int]:
    """The holder stack of one alias after replaying ``events`` (oldest first)."""
    stack: list[int] = []
    for event in events:
        if event.action == "rollback":
            if stack:
                stack.pop()
            if not stack or stack[-1] != event.to_version:
                # History written by hand or by another tool: trust the recorded target.
                stack.append(event.to_version)
        elif not stack or stack[-1] != event.to_version:
            stack.append(event.to_version)
    return stack


def rollback_target(events: Iterable[AliasEvent]) -> int | None:
    """The version a rollback of this alias moves to, or ``None`` when there is no earlier holder."""
    stack = holder_stack(events)
    return stack[-2] if len(stack) >= 2 else None
