"""The package's version is the project's release, in one place."""

import os

import zero_copy_ipc


def test_version_is_the_cc_project_version():
    # _zcipc.PROJECT_VERSION is zcipc::kProjectVersion
    # (include/zcipc/options.h), compiled into the extension.
    assert zero_copy_ipc.__version__ == zero_copy_ipc._zcipc.PROJECT_VERSION
    parts = zero_copy_ipc.__version__.split(".")
    assert len(parts) == 3 and all(p.isdigit() for p in parts)


def test_wheel_version_agrees():
    # python/BUILD.bazel passes its VERSION (the wheel's name and metadata)
    # to this test.
    assert os.environ["ZCIPC_WHEEL_VERSION"] == zero_copy_ipc.__version__
