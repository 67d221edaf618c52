"""The datastore kit: what a database plugin shares with every other, written once.

A database plugin (postgres, mysql, mongodb) writes only its driver, a subclass of
:class:`~devstack.datastore.store.Datastore` (how to open and close the pool, and its
statements), and its settings, a subclass of
:class:`~devstack.datastore.settings.DatastoreSettings`. The kit holds the rest: the
credentials (the secrets hook, else the settings), the pool opened in the background with
backoff, guarded and measured calls, the health probe, the records routes (insert,
newest-first page, cached total) and the hook implementations
(:class:`~devstack.datastore.plugin.DatastorePlugin`). Plugins import it from
``devstack.api``.
"""
