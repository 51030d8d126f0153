"""Leaderboard releases: tag a scored submission, reproduce it from the tag, compare releases with local metrics;
parameter searches over DVC experiments (`ragtune tune`).

The names below are the public surface; each loads its module on first use (lazy_loader), so importing
one part does not import the rest, and a stage's DVC deps stay the modules it uses.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submodules=["dvcconfig", "leaderboard", "lockfile", "machine", "reproduce", "tag", "tuning", "vcs"],
    submod_attrs={
        "dvcconfig": ["cache_dir", "default_remote", "dvc_config", "remotes", "share_config"],
        "leaderboard": ["describe", "list_releases", "plot_local_vs_leaderboard", "rank_correlations"],
        "lockfile": ["LockedOutput", "cache_object", "locked_output", "unreproducible_dependencies"],
        "reproduce": ["describe_reproduction", "reproduce"],
        "tag": ["RECORD_FORMAT", "format_message", "read_record", "release", "tag_name"],
        "tuning": ["TuneError", "open_study", "parse_space", "run_trials"],
        "vcs": [
            "ReleaseError",
            "describe_changes",
            "dirty_paths",
            "dvc_command",
            "explain_failure",
            "find_dvc_root",
            "git",
        ],
    },
)
