"""Files ``modelyard init`` copies into a new yard (under ``yard/``)."""
