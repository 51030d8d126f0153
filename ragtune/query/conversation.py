"""The standalone query of a conversation, offline: its user turns joined, oldest first.

Assistant turns add nothing searchable. `standalone_query(msg, is_content)` leaves out earlier user
turns that `is_content` rejects (the query planner passes one that drops bare reactions like "응",
"고마워"; see `ragtune.query.plan`); the last user turn, the question itself, is always kept.
"""

from __future__ import annotations

from collections.abc import Callable


def user_turns(msg: list[dict]) -> list[str]:
    return [t["content"] for t in msg if t["role"] == "user" and t["content"].strip()]


def standalone_query(msg: list[dict], is_content: Callable[[str], bool] | None = None) -> str:
    """The last user turn, preceded by earlier user turns that carry content (oldest first)."""
    turns = user_turns(msg)
    last, earlier = turns[-1], turns[:-1]
    if is_content is not None:
        earlier = [t for t in earlier if is_content(t)]
    return " ".join(earlier + [last])
