"""The one error type pgiam raises, caught once in main()."""

from __future__ import annotations


class PgiamError(Exception):
    """An error with a one-line, actionable message and an exit code.

    exit_code: 1 = a service (or the operation) failed, 2 = usage or configuration error.
    """

    exit_code: int = 1

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message


class UsageError(PgiamError):
    """Bad command line or configuration (exit 2)."""

    exit_code = 2


class ConfigError(UsageError):
    """The config file is invalid (exit 2). The message names file, service and key."""


class FileSafetyError(PgiamError):
    """A file pgiam would write is unsafe or unwritable (exit 1); nothing was changed."""


class CredentialsError(PgiamError):
    """AWS credentials could not be obtained (exit 1 for the service)."""
