"""The README stays honest: every setting is in its configuration table, and the Quick start's
test command is what CI runs."""

from __future__ import annotations

import re
from pathlib import Path

from app.config import Settings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_every_setting_is_in_the_readme_configuration_table():
    documented = set(re.findall(r"^\| `LECTERN_([A-Z_]+)` \|", README, flags=re.M))
    fields = {name.upper() for name in Settings.model_fields}
    assert fields - documented == set(), "settings missing from the README table"
    assert documented - fields == set(), "README documents settings that do not exist"


def test_quick_start_has_a_run_and_a_test_command_and_ci_runs_the_test_one():
    quick = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"^\s*(\./dev \w+)\s*$", quick, flags=re.M)
    assert commands == ["./dev run", "./dev test"]
    assert "./dev test" in (ROOT / ".ci" / "run").read_text()
