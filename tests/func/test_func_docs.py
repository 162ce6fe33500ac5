"""The examples of docs/func.md run, in order, in one namespace."""
import linecache
import os
import re

import numpy as np

DOC = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "docs", "func.md")


def test_docs_func_examples_run():
    with open(DOC, encoding="utf-8") as f:
        text = f.read()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) >= 7, "docs/func.md lost its examples"
    namespace = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        for i, block in enumerate(blocks):
            name = f"docs/func.md[block {i}]"
            # so that tracebacks and anomaly reports can quote the lines, as from a file
            linecache.cache[name] = (len(block), None, block.splitlines(True), name)
            exec(compile(block, name, "exec"), namespace)
    assert "message" in namespace  # the NaN hunt caught its anomaly
