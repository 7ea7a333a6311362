"""``bnntool fetch``: get a dataset's files into the data directory, verified, all or nothing.

Files are fetched into ``<data dir>/.bnntool-staging/<dataset>/`` and moved to
``<data dir>/<dataset>/`` only after every file of the dataset has passed its checksum. A file
that fails its checksum is never kept, and neither is anything else of that fetch. A transfer
cut by the network is kept in the staging folder and resumed by the next fetch.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bnntool.artifacts import folder_lock, write_error, write_json
from bnntool.data.catalog import DatasetInfo, RemoteFile, get_dataset, get_file_set
from bnntool.data.checksum import Verdict, verify
from bnntool.data.download import (
    LocalWriteError,
    RetryPolicy,
    TransferFailed,
    copy_local,
    http_download,
)
from bnntool.data.locations import is_url, resolve_data_dir, resolve_mirror
from bnntool.errors import ChecksumError, DatasetError, DownloadError, UserError

STAGING = ".bnntool-staging"
VERIFIED = ".bnntool-verified.json"  # per dataset folder: size and mtime of each verified file


@dataclass(frozen=True)
class FetchedFile:
    name: str
    path: Path
    size: int
    source: str  # "cache", a local folder, or a URL
    verified_by: str  # "official" checksum or decompressed "content"


@dataclass(frozen=True)
class FetchResult:
    dataset: str
    directory: Path
    files: tuple[FetchedFile, ...]
    seconds: float

    @property
    def fetched(self) -> int:
        return sum(f.source != "cache" for f in self.files)


@dataclass(frozen=True)
class FileStatus:
    name: str
    present: bool
    verified: bool
    verified_by: str
    size: int


@dataclass(frozen=True)
class DatasetStatus:
    name: str
    title: str
    directory: Path
    files: tuple[FileStatus, ...]

    @property
    def present(self) -> bool:
        return all(f.present for f in self.files)

    @property
    def verified(self) -> bool:
        return all(f.verified for f in self.files)

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


Log = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def fetch(
    name: str,
    data_dir: str | os.PathLike[str] | None = None,
    mirror: str | os.PathLike[str] | None = None,
    *,
    policy: RetryPolicy | None = None,
    log: Log = _quiet,
) -> FetchResult:
    """Fetch every file of dataset ``name`` and return where they are and where they came from.

    Sources, in order: a verified copy already in the data directory; then the mirror if one is
    given (and nothing else); else a system package (Debian's ``dataset-fashion-mnist``) and
    finally the official URL.
    """
    info = get_file_set(name)  # a dataset, or bnn-pynq-bitstreams
    root = resolve_data_dir(data_dir)
    mirror_location = resolve_mirror(mirror)
    policy = policy or RetryPolicy()
    started = time.monotonic()

    target = root / info.name
    staging = root / STAGING / info.name
    made_root = _make_dirs(root, root)
    busy = f"{info.name}: waiting for another bnntool fetching into {root}"
    with folder_lock(root, wait=True, busy=busy, log=log):  # one fetch at a time into a folder
        created = list(made_root)  # staging too, once a file has to be fetched
        return _fetch_files(info, root, target, staging, created, mirror_location, policy, log,
                            started)  # fmt: skip


def _fetch_files(
    info: DatasetInfo, root: Path, target: Path, staging: Path, created: list[Path],
    mirror_location: str | None, policy: RetryPolicy, log: Log, started: float,
) -> FetchResult:  # fmt: skip
    done: list[FetchedFile] = []
    staged: list[tuple[Path, FetchedFile]] = []
    for remote in info.files:
        final = target / remote.name
        if os.path.lexists(final) and not final.is_file():
            _remove_created(created)
            raise DatasetError(
                f"{final} is not a file (a folder or something else stands where "
                f"{info.name}'s {remote.name} belongs); move it away and fetch again"
            )
    try:
        for remote in info.files:
            final = target / remote.name
            if final.is_file():
                verdict = verify(final, remote)
                if verdict.ok:
                    done.append(
                        FetchedFile(remote.name, final, final.stat().st_size, "cache", verdict.how)
                    )
                    continue
                log(f"{info.name}/{remote.name} in {target} fails its checksum; fetching it again")
            if not staging.is_dir():  # a read-only data directory that holds all is fine
                created += _make_dirs(root, staging)
            part = staging / remote.name
            fetched = _obtain(info, remote, part, final, mirror_location, policy, log)
            staged.append((part, fetched))
        if staged:
            target.mkdir(parents=True, exist_ok=True)
            for part, fetched in staged:
                os.replace(part, fetched.path)
                done.append(fetched)
        _remove_staging(root, staging)
    except (TransferFailed, KeyboardInterrupt):
        raise  # keep partial files: the next fetch resumes them
    except BaseException as e:
        _remove_staging(root, staging)
        _remove_created(created)
        if isinstance(e, LocalWriteError):
            hint = "free space there or choose another --data-dir; nothing of it was kept"
            raise write_error(target / e.path.name, e.error, hint) from None
        if isinstance(e, OSError):
            where = Path(e.filename) if e.filename else target
            raise write_error(where, e, "choose another --data-dir") from None
        raise
    _record(target, {f.name: f.verified_by for f in done})
    order = {f.name: i for i, f in enumerate(info.files)}
    done.sort(key=lambda f: order[f.name])
    return FetchResult(info.name, target, tuple(done), time.monotonic() - started)


def _obtain(
    info: DatasetInfo,
    remote: RemoteFile,
    part: Path,
    final: Path,
    mirror: str | None,
    policy: RetryPolicy,
    log: Log,
) -> FetchedFile:
    """Get one file into ``part`` from the best source and verify it; ``final`` is where it goes."""
    label = f"{info.name}/{remote.name}"
    if mirror is None:
        for system_dir in info.system_dirs:
            candidate = Path(system_dir) / remote.name
            if candidate.is_file():
                copy_local(candidate, part, label=label)
                verdict = verify(part, remote)
                if verdict.ok:
                    return FetchedFile(
                        remote.name, final, part.stat().st_size, system_dir, verdict.how
                    )
                part.unlink()
                log(f"{candidate} fails its checksum; ignoring it")
        source = remote.url
        http_download(source, part, size=remote.size, policy=policy, label=label)
    elif is_url(mirror):
        source = f"{mirror.rstrip('/')}/{info.name}/{remote.name}"
        try:
            http_download(source, part, size=remote.size, policy=policy, label=label)
        except TransferFailed:
            raise
        except DownloadError as e:
            raise DownloadError(f"mirror {mirror} cannot serve {label}: {e}") from None
    else:
        folder = Path(mirror).expanduser()
        if not folder.is_dir():
            raise DownloadError(
                f"mirror folder {folder} does not exist; --mirror takes a URL prefix or a folder "
                "laid out as <dataset>/<official file name>"
            )
        source_path = folder / info.name / remote.name
        if not source_path.is_file():
            raise DownloadError(
                f"mirror folder {folder} has no {info.name}/{remote.name}; "
                f"copy the official file there or use another mirror"
            )
        source = str(folder)
        copy_local(source_path, part, label=label)

    verdict = verify(part, remote)
    if not verdict.ok:
        part.unlink()
        where = "official URL" if mirror is None else "mirror"
        raise ChecksumError(
            f"checksum mismatch for {label} from {where} {source}: md5 {verdict.md5}, "
            f"expected {remote.md5}; the file was not kept - replace the source's copy "
            "or use another mirror"
        )
    return FetchedFile(remote.name, final, part.stat().st_size, source, verdict.how)


def _record(folder: Path, verified: dict[str, str]) -> None:
    """Note the size and mtime of files just verified, so that later uses re-check cheaply.
    Best effort: a data directory that cannot take the note is checked in full next time."""
    entries = {}
    for name, how in verified.items():
        with contextlib.suppress(OSError):
            st = (folder / name).stat()
            entries[name] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "verified_by": how}
    with contextlib.suppress(UserError, OSError):
        write_json(folder / VERIFIED, {**_recorded(folder), **entries})


def _recorded(folder: Path) -> dict[str, dict]:
    try:
        record = json.loads((folder / VERIFIED).read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def check_fetched(name: str, data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Before a dataset is used: every file that fetch verified is still what it verified.
    Unchanged size and mtime are trusted; a file that changed is checked in full and refused,
    with the command that repairs it, if it no longer has its published checksum. Files that
    bnntool never verified (placed there by hand) are recorded once they verify, and otherwise
    left to the reader. Returns the dataset folder."""
    info = get_dataset(name)
    root = resolve_data_dir(data_dir)
    folder = root / info.name
    record = _recorded(folder)
    checked: dict[str, str] = {}
    for remote in info.files:
        path = folder / remote.name
        try:
            st = path.stat()
        except OSError:
            continue  # missing files are the loader's to report
        seen = record.get(remote.name)
        if seen and seen.get("size") == st.st_size and seen.get("mtime_ns") == st.st_mtime_ns:
            continue
        verdict: Verdict = verify(path, remote)
        if verdict.ok:
            checked[remote.name] = verdict.how
        elif seen:
            where = f" --data-dir {root}" if data_dir is not None else ""
            raise DatasetError(
                f"{path} has changed since bnntool fetch verified it (md5 {verdict.md5}, "
                f"expected {remote.md5}); repair it with: bnntool fetch {info.name}{where}"
            )
    if checked:
        _record(folder, checked)
    return folder


def ensure_fetched(
    name: str,
    data_dir: str | os.PathLike[str] | None = None,
    mirror: str | os.PathLike[str] | None = None,
    *,
    log: Log = _quiet,
) -> Path:
    """A dataset ready to use: checked as :func:`check_fetched` when all its files are there,
    else fetched (a changed file is refused, not silently fetched again)."""
    info = get_dataset(name)
    folder = resolve_data_dir(data_dir) / info.name
    if all((folder / f.name).is_file() for f in info.files):
        return check_fetched(name, data_dir)
    return fetch(name, data_dir, mirror, log=log).directory


def status(name: str, data_dir: str | os.PathLike[str] | None = None) -> DatasetStatus:
    """Which files of dataset ``name`` the data directory holds, and whether each verifies."""
    info = get_dataset(name)
    target = resolve_data_dir(data_dir) / info.name
    files = []
    for remote in info.files:
        path = target / remote.name
        if path.is_file():
            verdict = verify(path, remote)
            files.append(
                FileStatus(remote.name, True, verdict.ok, verdict.how, path.stat().st_size)
            )
        else:
            files.append(FileStatus(remote.name, False, False, "", 0))
    return DatasetStatus(info.name, info.title, target, tuple(files))


def _make_dirs(root: Path, staging: Path) -> list[Path]:
    """Create the staging folder; return the folders that did not exist before (outermost first)."""
    created = []
    probe = staging
    while not probe.exists():
        created.append(probe)
        probe = probe.parent
    try:
        staging.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        _remove_created(created)
        raise UserError(
            f"cannot write to data directory {root}: {e.strerror or e}; choose another with "
            "--data-dir or BNNTOOL_DATA_DIR"
        ) from None
    return created[::-1]


def _remove_staging(root: Path, staging: Path) -> None:
    shutil.rmtree(staging, ignore_errors=True)
    with contextlib.suppress(OSError):
        (root / STAGING).rmdir()


def _remove_created(created: list[Path]) -> None:
    for path in reversed(created):
        with contextlib.suppress(OSError):
            path.rmdir()
