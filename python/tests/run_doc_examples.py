"""Runs the Python examples of the given Markdown files (every ```python
block), each in a fresh namespace, on the interpreter running it (the
wheel test for every CPython, python/tests/abi3_versions_test.sh).

The dict names an example creates or attaches ("my_dict", ...) get this
process's pid appended, so tests running at the same time never share a
dict; nothing else of the example changes.

    python run_doc_examples.py README.md docs/PYTHON.md
"""

import os
import re
import sys

BLOCK = re.compile(r"^```python\n(.*?)^```", re.M | re.S)
NAME = re.compile(r"""\.(?:create|attach|open)\(\s*(["'])([^"']+)\1""")


def main():
    ran = 0
    for path in sys.argv[1:]:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for i, block in enumerate(BLOCK.findall(text)):
            for _, n in set(NAME.findall(block)):
                block = re.sub(r"""(["'])%s\1""" % re.escape(n),
                               '"%s_%d"' % (n, os.getpid()), block)
            code = compile(block, f"{path} (python example {i + 1})", "exec")
            exec(code, {"__name__": "__example__"})
            ran += 1
            print(f"{path}: example {i + 1} ok")
    if ran == 0:
        sys.exit("no ```python examples found in " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
