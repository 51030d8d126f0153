"""What outlives a stage's outputs: where the stores live, remembered candidate searches, remembered passage vectors."""
