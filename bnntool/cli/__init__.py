"""The ``bnntool`` command line: one module per stage; commands parse options, call one
function of a stage, and print."""

from __future__ import annotations

import sys

from bnntool.cli import board, convert, data, hw, train, verify
from bnntool.cli.group import cli

for _command in (
    data.fetch, data.datasets, train.train, convert.convert, verify.verify, verify.pipeline,
    hw.plan, hw.build, board.deploy, board.board, board.infer, board.evaluate, board.detect,
    train.export,
):  # fmt: skip
    cli.add_command(_command)

__all__ = ["cli", "main"]


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    if argv is None:
        argv = sys.argv[1:]
    cli.main(args=argv, prog_name="bnntool", standalone_mode=True)
