"""A file to import: a plain file, or a zip archive (a Mailchimp audience export) whose members
are the files. Readers open members as binary streams; nothing is read whole into memory."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import BinaryIO

from consentry.domain.errors import InputError

HEAD_BYTES = 64 * 1024


class Source:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.name = self.path.name
        if not self.path.is_file():
            raise InputError(f"{self.path}: no such file")
        self._zip: zipfile.ZipFile | None = None
        with self.path.open("rb") as f:
            magic = f.read(4)
        if magic[:2] == b"PK":
            try:
                self._zip = zipfile.ZipFile(self.path)
                broken = self._zip.testzip()
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                raise InputError(
                    f"{self.path}: not a complete zip archive ({exc}); was the download cut off?"
                ) from exc
            if broken is not None:
                raise InputError(f"{self.path}: zip member {broken!r} is corrupt (CRC mismatch)")

    @property
    def is_zip(self) -> bool:
        return self._zip is not None

    def members(self) -> list[str]:
        """The zip's files in archive order (directories and macOS ``__MACOSX`` litter left
        out), or the file itself."""
        if self._zip is None:
            return [self.name]
        return [
            info.filename
            for info in self._zip.infolist()
            if not info.is_dir() and not info.filename.startswith("__MACOSX/")
            and not Path(info.filename).name.startswith("._")
        ]  # fmt: skip

    def open(self, member: str | None = None) -> BinaryIO:
        if self._zip is None:
            return self.path.open("rb")
        return self._zip.open(member or self.members()[0])  # type: ignore[return-value]

    def head(self, member: str | None = None, size: int = HEAD_BYTES) -> bytes:
        with self.open(member) as f:
            return f.read(size)

    def label(self, member: str | None = None) -> str:
        """How a rejected row names its file: ``archive.zip:member.csv`` or ``file.csv``."""
        if self._zip is None or member is None:
            return self.name
        return f"{self.name}:{member}"

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()
