"""The mongodb plugin's hooks (the entry point target): the datastore kit around its driver."""

from devstack.api import DatastorePlugin
from devstack_mongodb.store import MongoStore

# the plugin API it was built for, checked by core at load
plugin = DatastorePlugin(MongoStore, plugin_api="1.0")
