"""Builds the zero_copy_ipc wheel from the package's files (no network, no
setuptools): a wheel is a zip with a .dist-info directory (PEP 427).

    build_wheel.py --out W.whl --version V --tag cp39-abi3-linux_x86_64 \
        --requires-python '>=3.9' path/to/__init__.py ... path/to/_zcipc.abi3.so
"""

import argparse
import base64
import hashlib
import os
import zipfile

METADATA = """\
Metadata-Version: 2.1
Name: zero_copy_ipc
Version: {version}
Summary: A shared-memory dict for processes on one machine (zcipc engine)
License: MIT
Requires-Python: {requires_python}

The API of the original zero-copy-ipc package on the zcipc C++ engine:
lock-free seqlock reads, one crash-safe writer lock, an O(1) allocator.
"""

WHEEL = """\
Wheel-Version: 1.0
Generator: zcipc build_wheel.py
Root-Is-Purelib: false
Tag: {tag}
"""


def digest(data):
    d = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(d).rstrip(b"=").decode()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--version", required=True)
    p.add_argument("--tag", required=True)
    p.add_argument("--requires-python", required=True)
    p.add_argument("files", nargs="+")
    a = p.parse_args()
    dist_info = f"zero_copy_ipc-{a.version}.dist-info"
    entries = []
    for path in a.files:
        with open(path, "rb") as f:
            entries.append(("zero_copy_ipc/" + os.path.basename(path), f.read()))
    entries.append((f"{dist_info}/METADATA",
                    METADATA.format(version=a.version,
                                    requires_python=a.requires_python).encode()))
    entries.append((f"{dist_info}/WHEEL", WHEEL.format(tag=a.tag).encode()))
    record = "".join(f"{name},{digest(data)},{len(data)}\n"
                     for name, data in entries)
    record += f"{dist_info}/RECORD,,\n"
    entries.append((f"{dist_info}/RECORD", record.encode()))
    with zipfile.ZipFile(a.out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            info.external_attr = (0o755 if name.endswith(".so") else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)


if __name__ == "__main__":
    main()
