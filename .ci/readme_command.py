"""Print one of README.md's two quickstart commands: `install` (the first) or `test` (the second).

.ci/run runs what this prints, so CI runs the README's command itself, verbatim.
"""

import re
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def quickstart_commands() -> list[str]:
    """The one-line bash blocks of README.md's Quickstart section, in order."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", section, re.DOTALL)]


if __name__ == "__main__":
    which = {"install": 0, "test": 1}[sys.argv[1]]
    print(quickstart_commands()[which])
