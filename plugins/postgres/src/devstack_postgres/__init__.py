"""devstack plugin serving PostgreSQL examples from one asyncpg pool per application."""
