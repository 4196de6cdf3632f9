"""Storage: SQLModel tables, the engine, Alembic migrations and full-text search."""
