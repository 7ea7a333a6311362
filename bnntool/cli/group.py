"""The click group: one-line errors with exit code 2, commands in pipeline order."""

from __future__ import annotations

import contextlib
import errno
import os
import sys
from typing import Any

import click

from bnntool import __version__
from bnntool.errors import Interrupted, UserError

DEBUG_ENV = "BNNTOOL_DEBUG"


class _Group(click.Group):
    """Turns :class:`UserError` into one line on stderr and exit code 2 (traceback with --debug);
    usage errors (a bad option value) are one line too."""

    def main(
        self,
        args: Any = None,
        prog_name: Any = None,
        complete_var: Any = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.NoArgsIsHelpError as e:  # a bare `bnntool` or `bnntool board`
            click.echo(e.ctx.get_help() if e.ctx else e.format_message())
            result = 0
        except click.UsageError as e:
            where = e.ctx.command_path if e.ctx else "bnntool"
            click.echo(
                f"bnntool: error: {where}: {e.format_message()} (see '{where} --help')", err=True
            )
            result = 2
        except click.Abort:
            click.echo("bnntool: aborted", err=True)
            result = 1
        if not standalone_mode:
            return result
        sys.exit(result if isinstance(result, int) else 0)

    def invoke(self, ctx: click.Context) -> Any:
        debug = bool(ctx.params.get("debug"))
        try:
            return super().invoke(ctx)
        except click.exceptions.Exit:
            raise
        except Interrupted as e:
            if debug:
                raise
            click.echo(f"bnntool: interrupted: {e}", err=True)
            ctx.exit(e.exit_code)
        except UserError as e:
            if debug:
                raise
            click.echo(f"bnntool: error: {e}", err=True)
            ctx.exit(e.exit_code)
        except KeyboardInterrupt:
            if debug:
                raise
            click.echo("bnntool: interrupted", err=True)
            ctx.exit(130)
        except OSError as e:
            # The environment (a file, a disk, a device) failed where no stage expected it.
            if e.errno == errno.EPIPE:  # `bnntool ... | head`: the reader has gone; so do we
                with contextlib.suppress(OSError):
                    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                ctx.exit(141)
            if debug:
                raise
            where = f" {e.filename}" if e.filename else ""
            click.echo(
                f"bnntool: error: cannot use{where}: {e.strerror or e}; for the details run it "
                "again as bnntool --debug COMMAND ...",
                err=True,
            )
            ctx.exit(2)
        except (click.ClickException, click.Abort):
            raise
        except Exception as e:
            if debug:
                raise
            text = " ".join(str(e).split())[:200]
            click.echo(
                f"bnntool: internal error ({type(e).__name__}: {text}); please report it with "
                "the output of the same command run as bnntool --debug COMMAND ...",
                err=True,
            )
            ctx.exit(1)

    ORDER = (
        "fetch", "datasets", "train", "convert", "verify", "pipeline",
        "plan", "build", "deploy", "board", "infer", "evaluate", "detect", "export",
    )  # fmt: skip

    def list_commands(self, ctx: click.Context) -> list[str]:
        # Pipeline order, not alphabetical.
        return sorted(self.commands, key=lambda c: self.ORDER.index(c) if c in self.ORDER else 99)


@click.group(
    cls=_Group,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, "--version", prog_name="bnntool")
@click.option(
    "--debug",
    is_flag=True,
    envvar=DEBUG_ENV,
    help="Show full tracebacks instead of one-line errors.",
)
def cli(debug: bool) -> None:
    """bnntool: binarized neural networks from training to a PYNQ board.

    One command per stage, listed below in pipeline order; `bnntool COMMAND --help` shows each
    command's options and examples.

    \b
    Example (the main job, then the same by stages):
      bnntool pipeline fashion-mnist
      bnntool fetch fashion-mnist
      bnntool train fashion-mnist --out runs/fmnist
      bnntool convert runs/fmnist --out params/fmnist
      bnntool verify params/fmnist --dataset fashion-mnist --against runs/fmnist
    """
