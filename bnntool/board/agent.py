"""The board side of deploy, setup and info: one standard-library script that the host runs on
the board as ``python3 -c <this source> COMMAND ARGS`` over one SSH exec channel.

It needs nothing installed on the board but Python 3 (PYNQ 2.x images have 3.6-3.8: so no
syntax newer than 3.6 here). Layout below the board user's home (``ROOT``, default ``bnntool``)::

    ROOT/params/<dataset>/<overlay>/     a deployed folder (+ .bnntool-deploy.json: what was sent)
    ROOT/bnntool-board.pyz               the board runtime (bnntool board setup)
    ROOT/bnntool-board.pyz.sha256        its sha256, which the host compares before each run
    ROOT/bnntool-board.json              what setup found and installed (board, platform, version)
    ROOT/bitstreams/<platform>/          BNN-PYNQ's stock .bit/.hwh/.tcl for the board

Everything bnntool writes there is readable by others: folders 0755, files 0644, whatever the
umask of the SSH session (a runtime started as root, or by another user, reads it).

Commands (arguments are one JSON document, argv[2]); results are JSON on stdout; failures are
one line ``bnntool-board: error: ...`` on stderr and exit status 3:

- ``deploy``: a first stdin line (JSON: the files' sha256 and ``force``) is answered by a probe
  (the sha256 of the files the deployed folder and its BNN-PYNQ copy hold now) as one stdout
  line; unless the board already holds those files, the host then sends a gzip tar stream,
  received into a temporary folder, every file's sha256 checked against the record it carries,
  then swapped into place by rename (the previous version is kept until the swap succeeded);
  with ``bnn`` also copied into BNN-PYNQ's params folder;
- ``install``: one file on stdin (the runtime), checked and renamed into place, then its
  sha256 and the setup record;
- ``stock``: like ``deploy`` for ``ROOT/bitstreams/<platform>``: the host's sha256 of the stock
  files in a first stdin line, answered by whether to send; then a gzip tar stream, every file
  checked against those sha256, swapped into place;
- ``pack``: a deployed folder as a gzip tar stream on stdout;
- ``info``: Python, NumPy, PYNQ, board, free disk, deployed folders, runtime, stock bitstreams;
- ``versions``: the Python and the NumPy (imported, as the runtime will) that the runtime would
  get, checked by the host before ``board setup`` installs anything, and the board's name.
"""

import errno
import hashlib
import json
import os
import shutil
import sys
import tarfile
import tempfile
import time
import zlib

RECORD = ".bnntool-deploy.json"
SETUP_RECORD = "bnntool-board.json"
ERROR_STATUS = 3
DIR_MODE, FILE_MODE = 0o755, 0o644
# Where PYNQ images name the board, after the BOARD variable (which only login shells get from
# /etc/profile.d): the device tree (PYNQ SD images), /etc/xocl.txt (PYNQ images and Kria-PYNQ),
# the export in Kria-PYNQ's profile script, /etc/environment.
BOARD_FILES = (
    "/proc/device-tree/chosen/pynq_board",
    "/etc/xocl.txt",
    "/etc/profile.d/pynq_venv.sh",
    "/etc/environment",
)


class Failure(Exception):
    pass


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            chunk = f.read(1 << 20)
            if not chunk:
                break
            digest.update(chunk)
    return digest.hexdigest()


def _folder_hashes(folder):
    """{relative path: sha256} of every file in a folder (the record itself excluded)."""
    if not os.path.isdir(folder):
        return None
    found = {}
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, folder)
            if rel != RECORD:
                found[rel] = _sha256(path)
    return found


def _safe_name(name):
    parts = name.split("/")
    return (
        bool(name)
        and not name.startswith("/")
        and all(p not in ("", ".", "..") for p in parts)
        and "\\" not in name
    )


def _publish(folder):
    """Folders 0755, files 0644 below ``folder`` (itself included), whatever the umask was."""
    os.chmod(folder, DIR_MODE)
    for dirpath, dirs, files in os.walk(folder):
        for name in dirs:
            os.chmod(os.path.join(dirpath, name), DIR_MODE)
        for name in files:
            os.chmod(os.path.join(dirpath, name), FILE_MODE)


def _makedirs(path):
    """``os.makedirs`` whose new folders are 0755 whatever the umask."""
    missing = []
    probe = os.path.abspath(path)
    while not os.path.isdir(probe):
        missing.append(probe)
        probe = os.path.dirname(probe)
    os.makedirs(path, exist_ok=True)
    for folder in missing:
        os.chmod(folder, DIR_MODE)


def exported(path, variable):
    """The value a shell script (``export NAME=value``) or /etc/environment gives ``variable``,
    read, not run; None if it sets none or cannot be read."""
    try:
        with open(path, "rb") as f:
            text = f.read(65536).decode("utf-8", "replace")
    except OSError:
        return None
    for line in text.splitlines():
        words = line.strip().split()
        if words[:1] == ["export"]:
            words = words[1:]
        if words and words[0].startswith(variable + "="):
            value = words[0][len(variable) + 1 :].strip("\"'")
            return value if value and "$" not in value else None
    return None


def _board_from(path):
    if path.endswith((".sh", "environment")):
        return exported(path, "BOARD")
    try:
        with open(path, "rb") as f:
            return f.read(4096).decode("utf-8", "replace").strip("\x00\n\r\t ") or None
    except OSError:
        return None


def board_name():
    """The board's name as PYNQ gives it and where it was found: (name, source) or (None, None)."""
    name = os.environ.get("BOARD", "").strip()
    if name and name != "Unknown":
        return name, "BOARD"
    for path in BOARD_FILES:
        found = _board_from(path)
        if found and found != "Unknown":
            return found, path
    return None, None


def _bnn_params_dir():
    """``<bnn package>/params`` of an installed BNN-PYNQ, found without importing it (its import
    fails on boards without the BOARD variable or the old xlnk driver)."""
    import importlib.util

    spec = importlib.util.find_spec("bnn")
    if spec is None or not spec.submodule_search_locations:
        raise Failure(
            f"no BNN-PYNQ 'bnn' package is installed for {sys.executable}; deploy with "
            "--layout bnntool, or install BNN-PYNQ on the board"
        )
    return os.path.join(next(iter(spec.submodule_search_locations)), "params")


def _lock(root):
    import fcntl

    _makedirs(root)
    os.chmod(root, DIR_MODE)
    handle = open(os.path.join(root, ".lock"), "w")  # noqa: SIM115 (held until unlocked)
    fcntl.flock(handle, fcntl.LOCK_EX)
    return handle


def _tidy(parent, name):
    """Remove what an interrupted deploy of ``name`` left; finish an interrupted swap."""
    if not os.path.isdir(parent):
        return
    previous = sorted(p for p in os.listdir(parent) if p.startswith("." + name + ".previous-"))
    if previous and not os.path.exists(os.path.join(parent, name)):
        os.rename(os.path.join(parent, previous.pop()), os.path.join(parent, name))
    for entry in os.listdir(parent):
        if entry.startswith("." + name + ".incoming-") or entry in previous:
            shutil.rmtree(os.path.join(parent, entry), ignore_errors=True)


def _swap(tmp, dest):
    """Put ``tmp`` at ``dest`` by rename; the old ``dest`` stays until the swap succeeded."""
    parent, name = os.path.split(dest)
    previous = None
    if os.path.exists(dest):
        previous = tempfile.mkdtemp(prefix="." + name + ".previous-", dir=parent)
        os.rmdir(previous)
        os.rename(dest, previous)
    try:
        os.rename(tmp, dest)
    except BaseException:
        if previous is not None:
            os.rename(previous, dest)
        raise
    if previous is not None:
        shutil.rmtree(previous, ignore_errors=True)


def _space_error(where, error):
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        try:
            free = shutil.disk_usage(where).free // 1000000
        except OSError:
            free = "?"
        return Failure(
            f"no space left on the board's disk writing {where} ({free} MB free); the previous "
            "version is unchanged, free some space and deploy again"
        )
    return Failure(f"cannot write {where} on the board: {error.strerror or error}")


def probe(args):
    dest = os.path.join(args["root"], "params", args["dataset"], args["overlay"])
    result = {"path": os.path.abspath(dest), "files": _folder_hashes(dest), "bnn": None}
    if args.get("bnn"):
        bnn_dest = os.path.join(_bnn_params_dir(), args["dataset"], args["overlay"])
        result["bnn"] = {"path": bnn_dest, "files": _folder_hashes(bnn_dest)}
    return result


def receive(args):
    root, dataset, overlay = args["root"], args["dataset"], args["overlay"]
    parent = os.path.join(root, "params", dataset)
    dest = os.path.join(parent, overlay)
    bnn_dest = os.path.join(_bnn_params_dir(), dataset, overlay) if args.get("bnn") else None
    lock = _lock(root)
    try:
        try:
            _makedirs(parent)
            os.chmod(os.path.join(root, "params"), DIR_MODE)
            os.chmod(parent, DIR_MODE)
        except OSError as e:
            raise _space_error(parent, e) from None
        _tidy(parent, overlay)
        tmp = tempfile.mkdtemp(prefix="." + overlay + ".incoming-", dir=parent)
        try:
            received = _untar(sys.stdin.buffer, tmp)
            _check(tmp, received)
            _publish(tmp)
            _swap(tmp, dest)
        except OSError as e:
            raise _space_error(dest, e) from None
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        result = {"path": os.path.abspath(dest), "files": len(received), "bnn": None}
        if bnn_dest is not None:
            bnn_parent = os.path.dirname(bnn_dest)
            try:
                os.makedirs(bnn_parent, exist_ok=True)
                _tidy(bnn_parent, overlay)
                btmp = tempfile.mkdtemp(prefix="." + overlay + ".incoming-", dir=bnn_parent)
                try:
                    os.rmdir(btmp)
                    shutil.copytree(dest, btmp)
                    _swap(btmp, bnn_dest)
                finally:
                    shutil.rmtree(btmp, ignore_errors=True)
            except OSError as e:
                raise _space_error(bnn_dest, e) from None
            result["bnn"] = bnn_dest
        return result
    finally:
        lock.close()


def deploy(args):
    wanted = json.loads(sys.stdin.buffer.readline().decode())
    there = probe(args)
    same = there["files"] == wanted["files"]
    if there["bnn"] is not None:
        same = same and there["bnn"]["files"] == wanted["files"]
    send = wanted["force"] or not same
    sys.stdout.write(json.dumps({"send": send, "probe": there}) + "\n")
    sys.stdout.flush()
    if not send:
        return {"status": "unchanged"}
    result = receive(args)
    result["status"] = "deployed"
    return result


def _untar(stream, tmp):
    """Extract a gzip tar stream of regular files into ``tmp``; return {name: sha256}."""
    received = {}
    try:
        with tarfile.open(fileobj=stream, mode="r|gz") as archive:
            for member in archive:
                if member.isdir():
                    continue
                if not member.isfile() or not _safe_name(member.name):
                    raise Failure(
                        f"refusing archive member {member.name!r} (not a plain relative file)"
                    )
                path = os.path.join(tmp, member.name)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                source = archive.extractfile(member)
                digest = hashlib.sha256()
                with open(path, "wb") as out:
                    while True:
                        chunk = source.read(1 << 20)
                        if not chunk:
                            break
                        digest.update(chunk)
                        out.write(chunk)
                received[member.name] = digest.hexdigest()
    except (tarfile.TarError, EOFError, zlib.error) as e:
        raise Failure(
            f"the upload was cut short or damaged ({e}); nothing was changed, deploy again"
        ) from None
    return received


def _check(tmp, received):
    """Every file the record names, with its sha256, and nothing else."""
    if RECORD not in received:
        raise Failure(f"the upload carries no {RECORD}; nothing was changed")
    with open(os.path.join(tmp, RECORD)) as f:
        expected = json.load(f)["files"]
    got = {k: v for k, v in received.items() if k != RECORD}
    missing = sorted(set(expected) - set(got))
    extra = sorted(set(got) - set(expected))
    bad = sorted(k for k in expected if k in got and got[k] != expected[k])
    if missing or extra or bad:
        what = bad[:1] or missing[:1] or extra[:1]
        raise Failure(
            f"sha256 check failed on the board ({len(bad)} differ, {len(missing)} missing, "
            f"{len(extra)} unexpected, e.g. {what[0]}); nothing was changed, deploy again"
        )


def _write_text(path, text):
    """Write a small file whole (temporary name, then rename), mode 0644."""
    folder, name = os.path.split(path)
    fd, tmp = tempfile.mkstemp(prefix="." + name + ".", dir=folder)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def install(args):
    """One file from stdin, checked by sha256; then ``<name>.sha256`` and, given one, the setup
    record (so that a runtime whose sha256 file is missing is never taken for current)."""
    root, name, sha = args["root"], args["name"], args["sha256"]
    _makedirs(root)
    dest = os.path.join(root, name)
    fd, tmp = tempfile.mkstemp(prefix="." + name + ".", dir=root)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            while True:
                chunk = sys.stdin.buffer.read(1 << 20)
                if not chunk:
                    break
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != sha:
            raise Failure(f"{name} arrived damaged (sha256 differs); run setup again")
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, dest)
        _write_text(dest + ".sha256", sha + "\n")
        if args.get("record") is not None:
            _write_text(os.path.join(root, SETUP_RECORD), json.dumps(args["record"], indent=1))
    except OSError as e:
        raise _space_error(dest, e) from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return {"path": os.path.abspath(dest), "python": sys.version.split()[0]}


def stock(args):
    """BNN-PYNQ's stock bitstreams of one platform into ``ROOT/bitstreams/<platform>``."""
    root, platform = args["root"], args["platform"]
    parent = os.path.join(root, "bitstreams")
    dest = os.path.join(parent, platform)
    wanted = json.loads(sys.stdin.buffer.readline().decode())
    there = _folder_hashes(dest)
    send = bool(wanted["force"]) or there != wanted["files"]
    sys.stdout.write(json.dumps({"send": send, "path": os.path.abspath(dest)}) + "\n")
    sys.stdout.flush()
    if not send:
        return {"status": "unchanged", "path": os.path.abspath(dest), "files": len(there)}
    lock = _lock(root)
    try:
        try:
            _makedirs(parent)
        except OSError as e:
            raise _space_error(parent, e) from None
        _tidy(parent, platform)
        tmp = tempfile.mkdtemp(prefix="." + platform + ".incoming-", dir=parent)
        try:
            received = _untar(sys.stdin.buffer, tmp)
            expected = wanted["files"]
            missing = sorted(set(expected) - set(received))
            extra = sorted(set(received) - set(expected))
            bad = sorted(k for k in expected if k in received and received[k] != expected[k])
            if missing or extra or bad:
                what = (bad or missing or extra)[0]
                raise Failure(
                    f"sha256 check failed on the board for the stock bitstreams ({len(bad)} "
                    f"differ, {len(missing)} missing, {len(extra)} unexpected, e.g. {what}); "
                    "nothing was changed, run bnntool board setup again"
                )
            _publish(tmp)
            _swap(tmp, dest)
        except OSError as e:
            raise _space_error(dest, e) from None
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    finally:
        lock.close()
    return {"status": "installed", "path": os.path.abspath(dest), "files": len(received)}


def pack(args):
    folder = os.path.join(args["root"], "params", args["dataset"], args["overlay"])
    if not os.path.isfile(os.path.join(folder, RECORD)):
        raise Failure(
            "no folder {}/{} deployed by bnntool on the board; run bnntool deploy first".format(
                args["dataset"], args["overlay"]
            )
        )
    out = sys.stdout.buffer
    with tarfile.open(fileobj=out, mode="w|gz") as archive:
        for name in sorted(os.listdir(folder)):
            if os.path.isfile(os.path.join(folder, name)):
                archive.add(os.path.join(folder, name), arcname=name)
    out.flush()
    return None


def _version(module):
    try:
        from importlib import metadata

        return metadata.version(module)
    except Exception:
        return None


def _setup_record(root):
    try:
        with open(os.path.join(root, SETUP_RECORD)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def info(args):
    root = args["root"]
    board, board_from = board_name()
    try:
        with open("/proc/device-tree/model") as f:
            model = f.read().strip("\x00\n ")
    except OSError:
        model = None
    usage = shutil.disk_usage(os.path.expanduser("~"))
    deployed = []
    params = os.path.join(root, "params")
    for dataset in sorted(os.listdir(params)) if os.path.isdir(params) else []:
        for overlay in sorted(os.listdir(os.path.join(params, dataset))):
            record_path = os.path.join(params, dataset, overlay, RECORD)
            if overlay.startswith(".") or not os.path.isfile(record_path):
                continue
            with open(record_path) as f:
                record = json.load(f)
            deployed.append(
                {
                    "params": dataset + "/" + overlay,
                    "files": len(record.get("files", {})),
                    "deployed": record.get("deployed"),
                    "bitstream": sorted(
                        n for n in record.get("files", {}) if n.startswith("bitstream/")
                    ),
                    "classes": record.get("classes"),
                }
            )
    bnn = None
    try:
        bnn_params = _bnn_params_dir()
        bnn = {
            "params": bnn_params,
            "available": sorted(
                d + "/" + o
                for d in os.listdir(bnn_params)
                if os.path.isdir(os.path.join(bnn_params, d))
                for o in os.listdir(os.path.join(bnn_params, d))
                if not o.startswith(".")
            ),
        }
    except (Failure, OSError):
        pass
    runtime = os.path.join(root, "bnntool-board.pyz")
    stock_dir = os.path.join(root, "bitstreams")
    stock_files = {}
    for platform in sorted(os.listdir(stock_dir)) if os.path.isdir(stock_dir) else []:
        if not platform.startswith("."):
            stock_files[platform] = sorted(os.listdir(os.path.join(stock_dir, platform)))
    overlays = []
    try:
        import importlib.util

        pynq = importlib.util.find_spec("pynq")
        if pynq is not None and pynq.submodule_search_locations:
            folder = os.path.join(next(iter(pynq.submodule_search_locations)), "overlays")
            overlays = sorted(n for n in os.listdir(folder) if not n.startswith("_"))
    except (ImportError, OSError, ValueError):
        pass
    return {
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "numpy": _version("numpy"),
        "pynq": _version("pynq"),
        "board": board,
        "board_from": board_from,
        "model": model,
        "disk_free": usage.free,
        "disk_total": usage.total,
        "root": os.path.abspath(root),
        "runtime": os.path.abspath(runtime) if os.path.isfile(runtime) else None,
        "setup": _setup_record(root),
        "stock_bitstreams": stock_files,
        "deployed": deployed,
        "bnn": bnn,
        "overlays": overlays,
        "time": time.time(),
    }


def versions(args):
    try:
        import numpy

        numpy_version = str(numpy.__version__)
    except Exception:  # missing, or broken for this Python
        numpy_version = None
    board, board_from = board_name()
    return {
        "python": "{}.{}.{}".format(*sys.version_info[:3]),
        "executable": sys.executable,
        "numpy": numpy_version,
        "pynq": _version("pynq"),
        "board": board,
        "board_from": board_from,
    }


COMMANDS = {
    "deploy": deploy,
    "install": install,
    "stock": stock,
    "pack": pack,
    "info": info,
    "versions": versions,
}


def main(argv):
    os.chdir(os.path.expanduser("~"))
    try:
        command = COMMANDS[argv[1]]
        result = command(json.loads(argv[2]))
    except Failure as e:
        sys.stderr.write("bnntool-board: error: {}\n".format(" ".join(str(e).split())))
        return ERROR_STATUS
    if result is not None:
        sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
