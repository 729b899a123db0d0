"""Reports rendered from a run folder (pure functions of journal.json and the request log)."""
