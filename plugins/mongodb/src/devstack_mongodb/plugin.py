"""The mongodb plugin's hooks (the entry point target): the datastore kit around its driver."""

from devstack.api import DatastorePlugin
from devstack_mongodb.store import MongoStore

plugin = DatastorePlugin(MongoStore)
