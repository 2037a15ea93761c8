"""Reading uploaded zip files safely: no path escapes, no links, no zip bombs.

Every member is checked before anything is read: names must be relative and stay inside the
archive (no ``..``, no absolute or drive paths), symbolic links and other special files are
refused, and the declared sizes must stay under a total cap and a compression-ratio cap. Reading
a member stops as soon as it produces more bytes than it declared, so a lying header cannot
inflate past the caps either.
"""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import PurePosixPath

MAX_TOTAL = 4 * 1024**3  # uncompressed bytes in all
MAX_RATIO = 200  # uncompressed / compressed, for members over RATIO_FLOOR
RATIO_FLOOR = 1024 * 1024
MAX_MEMBERS = 200_000


class UnsafeZip(ValueError):
    """The archive is refused; the message says why."""


def is_zip(data: bytes) -> bool:
    return data[:4] == b"PK\x03\x04"


def _check_name(name: str) -> None:
    if not name or "\x00" in name:
        raise UnsafeZip(f"refused archive member with an empty or binary name: {name!r}")
    norm = name.replace("\\", "/")
    path = PurePosixPath(norm)
    if norm.startswith("/") or (len(norm) > 1 and norm[1] == ":"):
        raise UnsafeZip(f"refused absolute path in the archive: {name!r}")
    if any(part == ".." for part in path.parts):
        raise UnsafeZip(f"refused path leaving the archive: {name!r}")


class SafeZip:
    def __init__(self, data: bytes | io.BufferedIOBase, *, max_total: int = MAX_TOTAL, max_ratio: int = MAX_RATIO) -> None:
        try:
            self.zf = zipfile.ZipFile(io.BytesIO(data) if isinstance(data, bytes) else data)
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise UnsafeZip(f"not a readable zip file: {exc}") from exc
        infos = self.zf.infolist()
        if len(infos) > MAX_MEMBERS:
            raise UnsafeZip(f"too many members ({len(infos)})")
        total = 0
        self.members: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            _check_name(info.filename)
            mode = (info.external_attr >> 16) if info.create_system == 3 else 0  # Unix mode, when written on Unix
            if stat.S_IFMT(mode) and stat.S_ISLNK(mode):
                raise UnsafeZip(f"refused symbolic link in the archive: {info.filename!r}")
            if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                raise UnsafeZip(f"refused special file in the archive: {info.filename!r}")
            if info.flag_bits & 0x1:
                raise UnsafeZip(f"refused encrypted member: {info.filename!r}")
            total += info.file_size
            if total > max_total:
                raise UnsafeZip(f"the archive unpacks to more than {max_total} bytes")
            if info.file_size > RATIO_FLOOR and info.file_size > max_ratio * max(info.compress_size, 1):
                raise UnsafeZip(f"refused member with a suspicious compression ratio: {info.filename!r}")
            if not info.is_dir():
                self.members[info.filename.replace("\\", "/")] = info
        self.max_total = max_total

    def names(self) -> list[str]:
        return list(self.members)

    def read(self, name: str) -> bytes:
        info = self.members[name]
        out = bytearray()
        with self.zf.open(info) as fh:
            while chunk := fh.read(1024 * 1024):
                out += chunk
                if len(out) > info.file_size:
                    raise UnsafeZip(f"member {name!r} is larger than its header says")
        return bytes(out)

    def find(self, suffixes: tuple[str, ...]) -> list[str]:
        """Members whose name ends with one of ``suffixes`` (case-insensitive), shallowest first;
        macOS resource forks (__MACOSX/) are left out."""
        found = [n for n in self.members if n.lower().endswith(suffixes) and not n.startswith("__MACOSX/")]
        return sorted(found, key=lambda n: (n.count("/"), n))

    def resolve(self, relative: str) -> str | None:
        """The member a path written in a document names (relative to the archive, or ending the same)."""
        want = relative.replace("\\", "/").lstrip("./")
        if want in self.members:
            return want
        for name in self.members:
            if name.endswith("/" + want):
                return name
        base = PurePosixPath(want).name
        matches = [n for n in self.members if PurePosixPath(n).name == base]
        return matches[0] if len(matches) == 1 else None

    def close(self) -> None:
        self.zf.close()
