"""The one HTTP transport of the three connectors (issue 12: being written)."""
