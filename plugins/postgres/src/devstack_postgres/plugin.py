"""The postgres plugin's hooks (the entry point target): the datastore kit around its driver."""

from devstack.api import DatastorePlugin
from devstack_postgres.store import PostgresStore

plugin = DatastorePlugin(PostgresStore)
