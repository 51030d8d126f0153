"""Parameters: the schema every composed configuration is checked against, and the workspace's standing choices."""
