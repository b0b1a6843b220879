"""Alembic migrations of the operational store (run by ``store.migrate``)."""
