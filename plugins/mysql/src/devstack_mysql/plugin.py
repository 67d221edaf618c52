"""The mysql plugin's hooks (the entry point target): the datastore kit around its driver."""

from devstack.api import DatastorePlugin
from devstack_mysql.store import MysqlStore

plugin = DatastorePlugin(MysqlStore)
