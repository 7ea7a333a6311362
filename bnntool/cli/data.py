"""`bnntool fetch` and `bnntool datasets`."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from bnntool.cli.common import (
    data_dir_option,
    emit_json,
    human_size,
    json_option,
    log,
    mirror_option,
)


@click.command(short_help="Download datasets, verified against their published checksums.")
@click.argument("names", metavar="DATASET...", nargs=-1, required=True)
@data_dir_option
@mirror_option
@click.option(
    "--retries",
    type=click.IntRange(1, 50),
    default=5,
    show_default=True,
    help="Attempts per file before giving up on a flaky connection.",
)
@json_option
def fetch(
    names: tuple[str, ...], data_dir: Path | None, mirror: str | None, retries: int, as_json: bool
) -> None:
    """Download datasets into the data directory, checking every file's checksum.

    A dataset is installed all or nothing: a file that fails its checksum is not kept, and
    neither is the rest of that dataset's fetch. An interrupted download is resumed next time.
    Debian's dataset-fashion-mnist package is used when it is installed.
    bnn-pynq-bitstreams is BNN-PYNQ's stock overlays (.bit/.hwh/.tcl) from upstream's
    repository at a pinned commit, fetched the same way (bnntool board setup sends them on).

    \b
    Examples:
      bnntool fetch fashion-mnist
      bnntool fetch mnist cifar-10 --data-dir ~/data
      bnntool fetch fashion-mnist --mirror /mnt/datasets --json
      bnntool fetch bnn-pynq-bitstreams
    """
    from bnntool.data import fetch as fetch_dataset
    from bnntool.data.download import RetryPolicy

    policy = RetryPolicy(attempts=retries)
    results = []
    for name in names:
        result = fetch_dataset(name, data_dir, mirror, policy=policy, log=log)
        results.append(result)
        if not as_json:
            size = sum(f.size for f in result.files)
            sources = sorted({f.source for f in result.files if f.source != "cache"})
            origin = f"from {', '.join(sources)}" if sources else "all already there"
            click.echo(
                f"{result.dataset}: {len(result.files)} files verified in {result.directory} "
                f"({human_size(size)}, {origin}; {result.seconds:.1f} s)"
            )
    if as_json:
        emit_json(
            [
                {
                    "dataset": r.dataset,
                    "directory": r.directory,
                    "seconds": round(r.seconds, 3),
                    "files": [
                        {
                            "name": f.name,
                            "path": f.path,
                            "size": f.size,
                            "source": f.source,
                            "verified_by": f.verified_by,
                        }
                        for f in r.files
                    ],
                }
                for r in results
            ]
        )


@click.command(short_help="List the known datasets and which are here and verified.")
@data_dir_option
@json_option
def datasets(data_dir: Path | None, as_json: bool) -> None:
    """List the known datasets, whether each is present and verified, and its size.

    Every file is checked against its published checksum (a few seconds for CIFAR-10).

    \b
    Examples:
      bnntool datasets
      bnntool datasets --json --data-dir ~/data
    """
    from bnntool.data import dataset_names, status

    report = [status(name, data_dir) for name in dataset_names()]
    if as_json:
        emit_json(
            [
                {
                    "name": s.name,
                    "title": s.title,
                    "directory": s.directory,
                    "present": s.present,
                    "verified": s.verified,
                    "size": s.size,
                    "files": [dataclasses.asdict(f) for f in s.files],
                }
                for s in report
            ]
        )
        return
    rows = []
    for s in report:
        have = sum(f.present for f in s.files)
        if s.verified:
            state = "verified"
        elif have == 0:
            state = "not fetched"
        elif any(f.present and not f.verified for f in s.files):
            state = "CORRUPT"
        else:
            state = "incomplete"
        rows.append(
            (s.name, state, f"{have}/{len(s.files)}", human_size(s.size) if have else "-", s.title)
        )
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    header = ("DATASET", "STATE", "FILES", "SIZE", "DESCRIPTION")
    widths = [max(w, len(h)) for w, h in zip(widths, header[:4], strict=True)]
    for row in (header, *rows):
        cells = [c.ljust(w) for c, w in zip(row[:4], widths, strict=True)]
        click.echo("  ".join([*cells, row[4]]))
    root = report[0].directory.parent if report else ""
    click.echo(f"\ndata directory: {root}")
