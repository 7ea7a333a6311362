"""Wall time of `bnntool deploy` of a 300-file params folder to a loopback sshd, verified.

The folder: Xilinx's mnist/lfcW1A1 params (288 .bin files and classes.txt) with a manifest.json,
plus a build folder of 10 files (.bit, .hwh, .tcl) given as --bitstream: 300 files. A real
OpenSSH sshd on 127.0.0.1 plays the board (as in tests/board). Each repetition is a full deploy
(--force: connect; on one exec channel the probe, then one gzip tar stream, the sha256 check of
every file on the board and the rename swap); the best and median are printed, and the
unchanged case (probe only) too.

    python benchmarks/deploy.py [--repeat 10] [--json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bnntool.artifacts import sha256_file, write_manifest  # noqa: E402
from bnntool.board.deploy import deploy  # noqa: E402
from bnntool.board.transport import resolve  # noqa: E402
from bnntool.overlay import load_overlay  # noqa: E402
from tests.board.conftest import _keygen, launch_sshd  # noqa: E402

UPSTREAM = REPO.parent / "shared" / "fixtures" / "upstream"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        params = tmp / "params"
        shutil.copytree(UPSTREAM / "params" / "mnist" / "lfcW1A1", params)
        write_manifest(
            params, {"overlay": "lfcW1A1", "overlay_spec": load_overlay("lfcW1A1").to_json()}
        )
        build = tmp / "build"
        build.mkdir()
        (build / "lfcW1A1.bit").write_bytes(bytes(range(256)) * 64)
        (build / "lfcW1A1.hwh").write_text("<hwh/>\n" * 200)
        for i in range(8):
            (build / f"script{i}.tcl").write_text(f"# tcl {i}\n" * 50)
        files = len(list(params.iterdir())) + len(list(build.iterdir()))
        key = _keygen(tmp / "client")
        home = tmp / "board-home"
        port, process, host_key = launch_sshd(
            tmp / "sshd", home, key.with_suffix(".pub").read_text()
        )
        try:
            pub = host_key.with_suffix(".pub").read_text().split()
            known = tmp / "known_hosts"
            known.write_text(f"[127.0.0.1]:{port} {pub[0]} {pub[1]}\n")
            import getpass

            target = resolve("127.0.0.1", port=port, user=getpass.getuser(), identity=str(key))
            target = type(target)(**{**target.__dict__, "known_hosts": str(known)})

            def once(force: bool) -> tuple[float, str]:
                started = time.perf_counter()
                rows = deploy(params, [target], dataset="mnist", bitstream=build, force=force)
                seconds = time.perf_counter() - started
                if rows[0].status == "failed":
                    raise SystemExit(rows[0].error)
                return seconds, rows[0].status

            fresh = [once(True) for _ in range(args.repeat)]
            unchanged = [once(False) for _ in range(args.repeat)]
            there = home / "bnntool" / "params" / "mnist" / "lfcW1A1"
            assert all(sha256_file(there / p.name) == sha256_file(p) for p in params.iterdir())
        finally:
            process.terminate()
            process.wait()
    times = [t for t, _ in fresh]
    still = [t for t, _ in unchanged]
    result = {
        "files": files,
        "deploy_best_s": round(min(times), 3),
        "deploy_median_s": round(statistics.median(times), 3),
        "unchanged_median_s": round(statistics.median(still), 3),
        "statuses": sorted({s for _, s in fresh + unchanged}),
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"deploy of {files} files to a loopback sshd, verified: "
            f"best {result['deploy_best_s']} s, median {result['deploy_median_s']} s; "
            f"unchanged (probe only): median {result['unchanged_median_s']} s"
        )


if __name__ == "__main__":
    main()
