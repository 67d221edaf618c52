"""The mysql plugin's hooks (the entry point target): the datastore kit around its driver."""

from devstack.api import DatastorePlugin
from devstack_mysql.store import MysqlStore

# the plugin API it was built for, checked by core at load
plugin = DatastorePlugin(MysqlStore, plugin_api="1.0")
