"""devstack plugin for MongoDB: reference query, stored records and a health check.

One ``pymongo.AsyncMongoClient`` (its own connection pool) per application, created in
the background at startup with the credentials of the secrets provider (Vault
``secret/mongodb``) or of the ``MONGODB_*`` settings.
"""
