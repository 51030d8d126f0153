"""Where models come from: hub probes and pointers, multilingual-e5-small offline, tiny same-architecture models."""
