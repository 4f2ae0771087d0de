"""The README's Python example runs as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs(tmp_path, monkeypatch, capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    assert blocks, "README.md has a Python example"
    monkeypatch.chdir(tmp_path)  # it writes under ./out
    for block in blocks:
        exec(compile(block, str(README), "exec"), {"__name__": "readme"})
    assert len(list((tmp_path / "out" / "python").glob("sample_*.mid"))) == 8
    assert "'meter':" in capsys.readouterr().out
