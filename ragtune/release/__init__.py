"""Leaderboard releases: tag a scored submission, reproduce it from the tag, compare releases with local metrics."""
