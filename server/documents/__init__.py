"""Invoice documents: what a document shows (content) and how it is typeset (PDF)."""
