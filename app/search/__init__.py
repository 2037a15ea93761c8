"""Full-text search: the SearchBackend interface (base), query syntax (query), both engines."""
