"""One error root for everything openbureau raises on purpose.

``UserError`` is a mistake the user can fix (a bad file, a bad spec, a bad setting): the CLI prints
its one-line message and exits with status 2, never a traceback. Anything else that escapes is a
bug in openbureau.
"""

from __future__ import annotations


class BureauError(Exception):
    """Root of every error openbureau raises deliberately."""


class UserError(BureauError):
    """A problem with the user's input; its message is one line that says what to fix."""

    exit_code = 2


class ConfigError(UserError):
    """``bureau.toml`` is missing, unreadable or invalid."""


class SpecError(UserError):
    """A source spec is unreadable or invalid."""


class FileRejected(UserError):
    """A furnisher file cannot be read at all; nothing from it was loaded."""

    def __init__(
        self, path: str, problem: str, *, line: int | None = None, column: str | None = None
    ) -> None:
        where = path
        if line is not None:
            where += f", line {line}"
        if column is not None:
            where += f", column {column!r}"
        super().__init__(f"{where}: {problem}")
        self.path = path
        self.line = line
        self.column = column
        self.problem = problem
