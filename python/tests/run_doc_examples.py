"""Runs the Python examples of the given Markdown files (every ```python
block), each in a fresh namespace, on the interpreter running it (the
wheel test for every CPython, python/tests/abi3_versions_test.sh).
FILE#Heading takes only the blocks of that level-2 section ("## Heading",
up to the next "## "): README.md#Python is the package's section of the
README (other sections show other clients, such as the C API from ctypes).

The dict names an example creates or attaches ("my_dict", ...) get this
process's pid appended, so tests running at the same time never share a
dict; nothing else of the example changes.

    python run_doc_examples.py README.md#Python docs/PYTHON.md
"""

import os
import re
import sys

BLOCK = re.compile(r"^```python\n(.*?)^```", re.M | re.S)
NAME = re.compile(r"""\.(?:create|attach|open)\(\s*(["'])([^"']+)\1""")


def main():
    ran = 0
    for arg in sys.argv[1:]:
        path, _, heading = arg.partition("#")
        with open(path, encoding="utf-8") as f:
            text = f.read()
        if heading:
            start = text.find(f"\n## {heading}\n")
            if start < 0:
                sys.exit(f"{path}: no section '## {heading}'")
            end = text.find("\n## ", start + 1)
            text = text[start:end if end >= 0 else len(text)]
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
