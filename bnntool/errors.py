"""Errors a user can cause.

Every exception here carries a one-line message that names the file, option, layer or host
involved and says what to do. The CLI prints it without a traceback and exits with code 2.
"""

from __future__ import annotations


class UserError(Exception):
    """Bad input or environment that the user can fix; shown as one line, exit code 2."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        # One line, always: a multi-line message would break log parsers and CI scripts.
        super().__init__(" ".join(str(message).split()))

    @property
    def message(self) -> str:
        return str(self)


class DatasetError(UserError):
    """Unknown dataset, missing or unreadable dataset files, bad image folders."""


class DownloadError(UserError):
    """A file could not be obtained from its URL or mirror."""


class ChecksumError(DownloadError):
    """A downloaded or copied file does not have its published checksum."""


class FormatError(UserError):
    """A file exists but its content is not in the expected format (bad magic, truncated)."""


class WriteError(UserError):
    """A file or folder could not be written (disk full, read-only, no permission)."""


class Interrupted(UserError):
    """The user stopped a command (Ctrl-C); the message says what was kept and how to go on."""

    exit_code = 130
