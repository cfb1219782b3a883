"""Progress lines of the long commands (evaluate, windows, benchmark, profile), on stderr.

The library functions take a ``progress`` callback and call it between passes,
never inside a timed one; this module gives the commands that callback and
their shared ``--quiet`` option. The lines go to stderr, so the results a
command prints on stdout (and every file it writes) stay free of them.
"""
import typer

from ..bench.timing import Progress, silent

QUIET_HELP = "No progress lines on stderr (one per system and pass)"


def progress_printer(quiet: bool) -> Progress:
    """A callback printing each progress line to stderr; with ``quiet`` one that prints nothing."""
    if quiet:
        return silent
    return lambda text: typer.echo(text, err=True)
