"""What retrieval does with a conversation: its standalone query, chit-chat detection, the per-question plan.

The names below are the public surface; each loads its module on first use (lazy_loader), so importing
one part does not import the rest, and a stage's DVC deps stay the modules it uses.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submodules=["chitchat", "conversation", "memo", "plan"],
    submod_attrs={
        "chitchat": ["ChitchatDetector", "calibrated_detector", "read_lines", "shipped_calibration"],
        "conversation": ["standalone_query", "user_turns"],
        "memo": ["PlanMemo", "Planner", "plan_inputs"],
        "plan": ["REACTION_WORDS", "offline_standalone", "plan_queries", "plan_routed", "reaction_filter"],
    },
)
