"""ragtune: documents in, fine-tuned retriever and leaderboard submission out."""

__version__ = "0.1.0"
