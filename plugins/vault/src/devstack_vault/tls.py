"""The HTTPS listener's certificate, issued by Vault's PKI engine."""

from __future__ import annotations

from devstack.api import TlsMaterial
from devstack_vault.service import VaultService


async def issue_tls_material(service: VaultService) -> TlsMaterial:
    """A fresh certificate for the configured names.

    ``certificate_pem`` is the leaf alone and ``ca_chain_pem`` its issuing chain: core's
    listener serves the two concatenated, and clients trust the chain's root.
    """
    issued = await service.issue_certificate()
    return TlsMaterial(
        certificate_pem=issued.certificate.strip() + "\n",
        private_key_pem=issued.private_key.strip() + "\n",
        not_after=issued.not_after,
        ca_chain_pem="\n".join(pem.strip() for pem in issued.ca_chain) + "\n",
        serial=issued.serial,
    )
