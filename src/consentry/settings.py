"""Settings: CONSENTRY_* environment variables, each with a CLI flag equivalent.

* ``CONSENTRY_HOME`` (``--home``): where keys live; default ``./.consentry``.
* ``CONSENTRY_DATABASE_URL`` (``--database``): ``sqlite:///path``, ``postgresql://...`` or
  ``memory:``; default ``sqlite:///<home>/consentry.sqlite``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str


def load_settings(
    env: Mapping[str, str], home: str | None = None, database: str | None = None
) -> Settings:
    """Flags win over the environment, which wins over the defaults."""
    home_path = Path(home or env.get("CONSENTRY_HOME") or ".consentry")
    url = (
        database
        or env.get("CONSENTRY_DATABASE_URL")
        or f"sqlite:///{home_path / 'consentry.sqlite'}"
    )
    return Settings(home=home_path, database_url=url)
