"""What retrieval does with a conversation: its standalone query, chit-chat detection, the per-question plan."""
