"""Who may read what coldwatch writes: its group, and nobody else.

The store holds GMP records, and its side files (the SQLite ``-wal`` and ``-shm``, the
``<store>.lock``), the outbox, the Twilio poll state and the journals beside it hold parts of
them. Each is created ``0640`` and each folder ``0750``, owned by the configured group
(``store.group``; default: the process's own), so that the group (QA, operators) can read the
records with ``coldwatch verify`` and users outside it cannot. A file that exists already is
narrowed to that (never widened) and given the group. The daemon also runs under a umask
(:data:`UMASK`) under which what a library creates is no wider.
"""

from __future__ import annotations

import grp
import os
import stat
from dataclasses import dataclass
from pathlib import Path

FILE_MODE = 0o640
DIR_MODE = 0o750
UMASK = 0o027


def set_umask() -> int:
    """The daemon's umask, :data:`UMASK`: what a library creates with the usual 0666/0777
    becomes 0640/0750, never wider (coldwatch's own files get their modes explicitly).
    Returns the previous umask."""
    return os.umask(UMASK)


def group_id(name: str) -> int:
    """The id of group ``name``; ValueError if there is no such group."""
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        raise ValueError(f"there is no group '{name}' on this system") from None


@dataclass(frozen=True)
class FileAccess:
    """Creates files ``0640`` and folders ``0750`` owned by group ``gid`` (None: the process's
    group, as the system gives it). Errors are the OS's, naming the path."""

    gid: int | None = None

    @classmethod
    def for_group(cls, name: str | None) -> FileAccess:
        return cls(group_id(name) if name else None)

    def make_dir(self, path: Path) -> None:
        """``path`` and its missing parents, each created ``0750`` with the group; folders
        that exist already are left as they are (they may be shared: /var/lib, /tmp)."""
        missing: list[Path] = []
        here = path
        while not here.exists():
            missing.append(here)
            here = here.parent
        for folder in reversed(missing):
            try:
                folder.mkdir(DIR_MODE)
            except FileExistsError:
                continue
            self._own(folder, DIR_MODE)

    def create(self, path: Path) -> None:
        """``path`` as an empty ``0640`` file with the group if missing; an existing one is
        narrowed without being opened (SQLite's side files: see :meth:`narrow`)."""
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
        except FileExistsError:
            self.narrow(path)
            return
        try:
            self._own_fd(fd)
        finally:
            os.close(fd)

    def open(self, path: Path, flags: int) -> int:
        """``os.open(path, flags | O_CREAT)``: a file created here is exactly ``0640`` with the
        group (whatever the umask), an existing one is narrowed; the caller closes the
        descriptor. Not for a file SQLite has open in this process (see :meth:`narrow`)."""
        flags |= os.O_CLOEXEC
        try:
            fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, FILE_MODE)
        except FileExistsError:
            self.narrow(path)
            return os.open(path, flags)
        try:
            self._own_fd(fd)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def narrow(self, path: Path) -> None:
        """Give an existing file the group and take away any permission beyond ``0640``
        (a narrower mode stays). By path, never through a descriptor: closing a descriptor
        of a file drops every POSIX lock this process holds on it, and SQLite's connections
        hold theirs on the store, ``-wal`` and ``-shm`` (another process would then take the
        store for unused and reset the ``-shm`` under them)."""
        self._own_path(path, None)

    def claim(self, path: Path) -> None:
        """A file a library has just created for us (SQLite's store): exactly ``0640`` with
        the group, whatever the umask gave it (by path, as :meth:`narrow`)."""
        self._own_path(path, FILE_MODE)

    def _own_path(self, path: Path, exact: int | None) -> None:
        st = path.stat()
        if self.gid is not None and st.st_gid != self.gid:
            os.chown(path, -1, self.gid)
        mode = stat.S_IMODE(st.st_mode)
        wanted = exact if exact is not None else mode & FILE_MODE
        if mode != wanted:
            path.chmod(wanted)

    def _own_fd(self, fd: int) -> None:
        """A file just created here: exactly ``0640`` with the group."""
        if self.gid is not None:
            os.fchown(fd, -1, self.gid)
        os.fchmod(fd, FILE_MODE)  # the umask may have narrowed it

    def _own(self, folder: Path, mode: int) -> None:
        if self.gid is not None:
            os.chown(folder, -1, self.gid)
        folder.chmod(mode)  # mkdir's mode passes through the umask; this one does not
