"""The Python examples in docs/api.md run and their assertions hold."""

import re
from pathlib import Path

DOC = Path(__file__).parents[1] / "docs" / "api.md"


def test_api_examples_run():
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) >= 5
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), namespace)
