"""The rollback rule every backend shares: a holder stack replayed from the alias history."""

from __future__ import annotations

from datetime import datetime, timezone

from modelyard.registry.history import holder_stack, rollback_target
from modelyard.registry.types import AliasEvent

T = datetime(2026, 1, 1, tzinfo=timezone.utc)


def ev(to: int, action: str = "promote") -> AliasEvent:
    return AliasEvent("m", "production", None, to, action, "a", "r", T)  # type: ignore[arg-type]


def test_rollbacks_walk_back_through_promotions() -> None:
    events = [ev(1), ev(2), ev(3)]
    assert holder_stack(events) == [1, 2, 3] and rollback_target(events) == 2
    events.append(ev(2, "rollback"))
    assert rollback_target(events) == 1
    events.append(ev(1, "rollback"))
    assert rollback_target(events) is None


def test_promoting_the_current_holder_again_does_not_make_it_its_own_predecessor() -> None:
    assert rollback_target([ev(1), ev(2), ev(2)]) == 1


def test_a_promotion_after_a_rollback_is_undone_by_the_next_rollback() -> None:
    assert rollback_target([ev(1), ev(2), ev(1, "rollback"), ev(3)]) == 1


def test_no_history_no_target() -> None:
    assert rollback_target([]) is None and rollback_target([ev(4)]) is None
