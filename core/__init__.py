"""Helpers every app may use and none owns: set-based writes, paging, database lookups, the actor
type. Nothing here knows about invoices, files or Visma; it imports Django and nothing else of the
project (an import contract in `pyproject.toml` holds it to that)."""
