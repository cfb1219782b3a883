"""Checking the project's assets against the one checksum table: the ``assets`` of project.yml.

``spacy project assets`` downloads (or copies from a local folder) and checksums
the files, but only prints a mismatch and exits 0 (and keeps a mismatched file it
finds in place); the workflow's ``data`` step runs this check after it so that a
wrong file stops the workflow.
"""
from pathlib import Path
from typing import List, NamedTuple, Union

from weasel.util import get_checksum, load_project_config  # what `spacy project` itself uses


class AssetProblem(NamedTuple):
    dest: str
    problem: str


def check_assets(project_dir: Union[str, Path] = ".") -> List[AssetProblem]:
    """Every asset of ``project_dir/project.yml`` with a checksum that is missing or differs."""
    project_dir = Path(project_dir)
    config = load_project_config(project_dir)
    problems = []
    for asset in config.get("assets", []):
        expected = asset.get("checksum")
        path = project_dir / asset["dest"]
        if not path.exists():
            problems.append(AssetProblem(asset["dest"], "missing (run `spacy project assets`)"))
        elif expected and get_checksum(path) != expected:
            problems.append(AssetProblem(asset["dest"], (
                f"checksum {get_checksum(path)} differs from {expected} in project.yml; "
                "remove the file and run `spacy project assets` again (it never replaces an existing file)"
            )))
    return problems
