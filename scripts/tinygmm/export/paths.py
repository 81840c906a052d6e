"""Output paths of an export, checked before any work: distinct, writable, not the data.

``check_outputs`` runs before the CSV is read and the model fitted, so every
problem with where the header, JSON and vectors would go is one clear line
and nothing on disk has changed. Paths are compared after resolving ``..``
and symlinks (and by inode when both exist, for hard links and case-insensitive
file systems), because ``out/../out/GMM.h`` and ``out/GMM.h`` are one file.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import TinyGMMError

# Temporary files are siblings of their output: .<name>.tinygmm-<pid>-<random>.tmp
TEMP_TAG = ".tinygmm-"
TEMP_SUFFIX = ".tmp"
TEMP_OVERHEAD = len("." + "." + TEMP_TAG + "4194304-" + "XXXXXXXX" + TEMP_SUFFIX)


def output_path(flag: str, text: str) -> Path:
    """The path given to an output flag, refusing an empty one (``--json ''``)."""
    if not text.strip():
        raise TinyGMMError(f"{flag} is empty; give a file name (or 'none' for --vectors)")
    if text.endswith(("/", os.sep)):
        raise TinyGMMError(f"{flag} {text!r} names a folder; give a file name")
    return Path(text)


def temp_prefix(path: Path) -> str:
    """The start of our temporary files' names for ``path`` (this process's own)."""
    return f".{path.name}{TEMP_TAG}{os.getpid()}-"


def resolve(path: Path) -> Path:
    """Absolute, with ``..`` and every symlink resolved (the file that would really be written)."""
    return Path(os.path.realpath(path))


def _name_max(folder: Path) -> int:
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):
        return 255


def _check_one(flag: str, given: Path, writable: bool) -> Path:
    real = resolve(given)
    for part in real.parts:
        if len(os.fsencode(part)) > 255:  # NAME_MAX almost everywhere; stat() itself would fail
            raise TinyGMMError(f"{flag} {str(given)!r}: the name {part[:40]!r}... is longer than 255 bytes")
    try:
        return _check_resolved(flag, given, real, writable)
    except OSError as exc:
        raise TinyGMMError(f"{flag} {str(given)!r}: {exc.strerror or exc}") from None


def _check_resolved(flag: str, given: Path, real: Path, writable: bool) -> Path:
    if real.is_dir():
        raise TinyGMMError(f"{flag} {str(given)!r} is a folder, not a file; give a file name inside it")
    if real.exists() and not real.is_file():
        raise TinyGMMError(f"{flag} {str(given)!r} is not a regular file (a device or a pipe?); give a file name")
    # the nearest folder that exists, and the ones that will be created under it
    folder, missing = real.parent, []
    while not folder.exists():
        missing.append(folder.name)
        folder = folder.parent
    if not folder.is_dir():
        raise TinyGMMError(f"{flag} {str(given)!r}: {str(folder)!r} is a file, not a folder")
    limit = _name_max(folder)
    for part in missing:
        if len(os.fsencode(part)) > limit:
            raise TinyGMMError(f"{flag} {str(given)!r}: the folder name {part[:40]!r}... is longer than {limit} bytes")
    n = len(os.fsencode(real.name))
    if n + TEMP_OVERHEAD > limit:
        raise TinyGMMError(
            f"{flag} {str(given)!r}: the file name is too long ({n} bytes; at most {limit - TEMP_OVERHEAD} here)"
        )
    if writable and not os.access(folder, os.W_OK | os.X_OK):
        raise TinyGMMError(
            f"{flag} {str(given)!r}: the folder {str(folder)!r} is not writable (read-only or immutable?)"
        )
    if writable and real.exists() and not os.access(real.parent, os.W_OK | os.X_OK):
        raise TinyGMMError(f"{flag} {str(given)!r}: the folder {str(real.parent)!r} is not writable")
    return real


def _same(a: Path, b: Path) -> bool:
    if a == b:
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_outputs(outputs: dict[str, Path | None], inputs: dict[str, Path], writable: bool = True) -> None:
    """Refuse outputs that are folders, unwritable, too long, the same file twice, or an input.

    ``outputs`` maps a flag (``--header``) to its path, or None when that output is off.
    ``inputs`` names the files an output must not overwrite (``{"the training data": path,
    "the C++ runtime": path}``). ``writable=False`` skips the permission checks (for
    ``--if-changed`` before it knows whether anything will be written).
    """
    real: dict[str, Path] = {}
    for flag, path in outputs.items():
        if path is not None:
            real[flag] = _check_one(flag, path, writable)
    protected = {label: Path(path) for label, path in inputs.items()}
    flags = list(real)
    for i, flag in enumerate(flags):
        for label, path in protected.items():
            if _same(real[flag], resolve(path)):
                raise TinyGMMError(f"{flag} {str(outputs[flag])!r} is {label} {str(path)!r}; it would be overwritten")
        for other in flags[:i]:
            if _same(real[flag], real[other]):
                raise TinyGMMError(
                    f"{other} and {flag} name the same file ({str(real[flag])!r}); give each output its own file"
                )


def _alive(pid: int) -> bool:
    if os.name == "nt":  # os.kill would terminate it; keep the file
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def clean_stale_temps(paths: list[Path]) -> list[Path]:
    """Delete our temporary files beside ``paths`` that a killed export left behind.

    Only names of our pattern whose writer process is gone are deleted, so a
    concurrent export's files are left alone. Returns the files deleted.
    """
    removed = []
    for path in paths:
        real = resolve(path)
        start = f".{real.name}{TEMP_TAG}"
        try:
            entries = os.listdir(real.parent)
        except OSError:
            continue
        for entry in entries:
            if not (entry.startswith(start) and entry.endswith(TEMP_SUFFIX)):
                continue
            pid = entry[len(start) :].split("-", 1)[0]
            if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
                try:
                    os.unlink(real.parent / entry)
                    removed.append(real.parent / entry)
                except OSError:
                    pass
    return removed
