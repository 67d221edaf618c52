"""devstack plugin for HashiCorp Vault / OpenBao."""
