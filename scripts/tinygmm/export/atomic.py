"""Write files so that a failure never leaves a half-written or stale-looking output."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from ..errors import TinyGMMError
from .paths import TEMP_SUFFIX, clean_stale_temps, resolve, temp_prefix


def _write_temp(path: Path, data: bytes, umask: int) -> str:
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path), suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; outputs are ordinary files
    except BaseException:
        os.unlink(tmp)
        raise
    return tmp


def write_all(files: dict[Path, str]) -> None:
    """Write every file to a temporary sibling first, then rename them into place.

    Nothing is renamed unless every temporary file was written completely, so a
    failure while writing leaves all previous outputs untouched. If a rename
    fails after others succeeded, the replaced files get their previous content
    back. A process killed between renames leaves a mixed set, which
    ``export.up_to_date`` sees (each output carries its inputs' hash), and
    temporary files that the next export deletes. Paths are written where
    their symlinks point. Errors are one-line ``TinyGMMError``.
    """
    umask = os.umask(0)
    os.umask(umask)
    targets = [(resolve(p), text.encode("utf-8")) for p, text in files.items()]
    clean_stale_temps([t for t, _ in targets])
    temps: list[tuple[str, Path]] = []
    try:
        for path, data in targets:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                temps.append((_write_temp(path, data, umask), path))
            except OSError as exc:
                raise TinyGMMError(
                    f"cannot write {str(path)!r}: {exc.strerror or exc}; no output was changed"
                ) from None
        previous: dict[Path, bytes | None] = {}  # None: there was no file; absent: unreadable
        for _, path in temps:
            with contextlib.suppress(OSError):
                previous[path] = path.read_bytes() if path.exists() else None
        done: list[Path] = []
        for tmp, path in temps:
            try:
                os.replace(tmp, path)
            except OSError as exc:
                restored = _restore(done, previous, umask)
                raise TinyGMMError(
                    f"cannot replace {str(path)!r}: {exc.strerror or exc}; "
                    + (
                        "the other outputs were restored"
                        if restored
                        else "the outputs may now disagree (the next export refits)"
                    )
                ) from None
            done.append(path)
    finally:
        for tmp, _ in temps:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _restore(done: list[Path], previous: dict[Path, bytes | None], umask: int) -> bool:
    """Put back the previous content of the outputs already replaced; True if all were."""
    ok = True
    for path in done:
        if path not in previous:
            ok = False
            continue
        old = previous[path]
        try:
            if old is None:
                path.unlink()
            else:
                os.replace(_write_temp(path, old, umask), path)
        except OSError:
            ok = False
    return ok
