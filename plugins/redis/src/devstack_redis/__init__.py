"""devstack plugin: Redis cache examples, Redis Cluster management and the shared cache."""
