"""The postgres plugin's hooks (the entry point target): the datastore kit around its driver."""

from devstack.api import DatastorePlugin
from devstack_postgres.store import PostgresStore

# the plugin API it was built for, checked by core at load
plugin = DatastorePlugin(PostgresStore, plugin_api="1.0")
