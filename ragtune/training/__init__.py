"""Fine-tuning: hard negatives, conflict-free batches, FlagEmbedding's runners, model selection, the targeted round."""
