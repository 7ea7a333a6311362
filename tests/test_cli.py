"""The command line as a user meets it: version, help, errors, docs."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import click
import pytest

from bnntool import __version__
from bnntool.cli import cli
from tests.conftest import REPO

STAGES = [
    "fetch", "datasets", "train", "convert", "verify", "pipeline",
    "plan", "build", "deploy", "board", "infer", "evaluate", "detect", "export",
]  # fmt: skip


def test_version(run_cli) -> None:
    result = run_cli("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"bnntool, version {__version__}"


def test_help_lists_the_stages(run_cli) -> None:
    result = run_cli("--help")
    assert result.exit_code == 0
    commands = result.stdout.split("Commands:")[1].strip().splitlines()
    assert [line.split()[0] for line in commands if not line.startswith("    ")] == STAGES


def test_help_names_each_command_once_and_shows_the_pipeline(run_cli) -> None:
    text = run_cli("--help").stdout
    for command in STAGES:
        assert len(re.findall(rf"^  {command} ", text, flags=re.M)) == 1, command
    example = text.split("Example")[1].split("Options:")[0]
    assert "bnntool pipeline fashion-mnist" in example


def test_only_built_stages_are_commands() -> None:
    # A stage that is not built yet is absent, not a stub.
    assert sorted(cli.commands) == sorted(STAGES)


@pytest.mark.parametrize("command", STAGES)
def test_every_command_help_has_an_example(run_cli, command: str) -> None:
    result = run_cli(command, "--help")
    assert result.exit_code == 0
    example = re.search(r"Examples?:\n((?:\s+bnntool .+\n)+)", result.stdout)
    assert example, result.stdout
    assert f"bnntool {command}" in example.group(1)


def test_user_error_is_one_line_with_exit_code_2(run_cli) -> None:
    result = run_cli("fetch", "nonsense")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("bnntool: error: unknown dataset 'nonsense'")
    assert result.stderr.count("\n") == 1


def test_debug_shows_the_traceback() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bnntool", "--debug", "fetch", "nonsense"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    assert "Traceback (most recent call last)" in proc.stderr
    assert "DatasetError: unknown dataset 'nonsense'" in proc.stderr


def test_console_script_is_installed() -> None:
    exe = shutil.which("bnntool")
    assert exe, "the bnntool console script is not on PATH"
    proc = subprocess.run([exe, "fetch", "nonsense"], capture_output=True, text=True, check=False)
    assert proc.returncode == 2
    assert proc.stderr.startswith("bnntool: error: unknown dataset")
    assert "Traceback" not in proc.stderr


def test_docs_mention_every_command() -> None:
    text = (REPO / "docs" / "cli.md").read_text()
    for command in cli.commands:
        assert f"## bnntool {command}" in text, f"docs/cli.md does not document 'bnntool {command}'"


def test_ci_runs_the_test_command_from_the_readme() -> None:
    readme = (REPO / "README.md").read_text()
    block = re.search(r"<!-- test-command -->\s*```(?:bash|sh)?\n(.+?)\n```", readme, re.S)
    assert block, "README.md has no marked test command"
    command = block.group(1).strip()
    ci = (REPO / ".ci" / "run").read_text()
    runs = [line for line in ci.splitlines() if line.startswith(command)]
    assert runs, f"'.ci/run' does not run README's test command: {command}"
    assert runs[0] in (command, f"{command} || status=$?")


def _sections() -> dict[str, str]:
    text = (REPO / "docs" / "cli.md").read_text()
    parts = re.split(r"^## bnntool ", text, flags=re.M)[1:]
    return {p.split("\n", 1)[0].split()[0]: p for p in parts}


def _commands() -> list[tuple[str, click.Command]]:
    out = []
    for name, command in cli.commands.items():
        if isinstance(command, click.Group):
            out += [(name, sub) for sub in command.commands.values()]
        else:
            out.append((name, command))
    return out


@pytest.mark.parametrize(("section", "command"), _commands(), ids=lambda c: getattr(c, "name", c))
def test_docs_name_every_option(section: str, command: click.Command) -> None:
    # docs/cli.md fell behind the code once (pipeline's section): every option is documented
    text = _sections()[section]
    ssh = _sections()["deploy"].split("SSH options (all board commands)")[1]
    for param in command.params:
        if isinstance(param, click.Option):
            name = max(param.opts, key=len)
            if "[SSH options]" in text and name in ssh:
                continue  # one list for all board commands, in the deploy section
            assert name in text, f"docs/cli.md's {section} section does not name {name}"
