"""DKIMPoolSigner: the ``MessageSigner`` port over a :class:`DKIMSigner` and its process pool,
one per sending domain, made by ``bootstrap.open_signer``."""

from __future__ import annotations

from collections.abc import Sequence

from consentry.mail.dkim import DKIMKeyLike, DKIMSigner
from consentry.mail.dkim_pool import SigningPool


class DKIMPoolSigner:
    def __init__(self, keys: Sequence[DKIMKeyLike], workers: int | None = None) -> None:
        # RSA first, Ed25519 second (RFC 8463 dual signing: verifiers that know only RSA still
        # find theirs).
        ordered = sorted(keys, key=lambda k: (k.algorithm != "rsa-sha256", k.selector))
        self.keys = tuple(ordered)
        self.signer = DKIMSigner(self.keys)
        self.pool = SigningPool(self.keys, workers)

    async def sign_many(self, messages: Sequence[bytes]) -> list[bytes]:
        return await self.pool.sign_messages_async(self.signer, messages)

    def close(self) -> None:
        self.pool.close()
