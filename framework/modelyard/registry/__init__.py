"""Model registry: versions, snapshots, aliases and their history, diff, retention."""
