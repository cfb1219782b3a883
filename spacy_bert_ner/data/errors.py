"""The one error a corpus reader raises for a bad input file: ``path:line: problem: 'line'``.

A subclass of ``ValueError`` so callers that catch ``ValueError`` keep working,
and picklable so it survives a trip across processes.
"""
from pathlib import Path
from typing import Any, Optional, Tuple, Union

PathLike = Union[str, Path]


class CorpusFormatError(ValueError):
    """Bad input file: ``str()`` is ``f"{path}:{line_no}: {problem}: {line!r}"``.

    The ``: {line!r}`` part is left out when ``line`` is None (e.g. an empty
    file). ``line_no`` is 1-based.
    """

    def __init__(self, path: PathLike, line_no: int, problem: str, line: Optional[str] = None) -> None:
        self.path = path
        self.line_no = line_no
        self.problem = problem
        self.line = line
        message = f"{path}:{line_no}: {problem}"
        if line is not None:
            message = f"{message}: {line!r}"
        super().__init__(message)

    def __reduce__(self) -> Tuple[Any, ...]:
        # Keeps the error picklable (e.g. across multiprocessing) despite the custom __init__.
        return (type(self), (self.path, self.line_no, self.problem, self.line))
