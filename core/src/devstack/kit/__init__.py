"""The backend kit: what a plugin needs to talk to a backend (circuit breakers, the shared
cache, the background opener, operation and pool metrics). Re-exported by devstack.api.
"""
