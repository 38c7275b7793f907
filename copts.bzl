"""Default compiler options for every zcipc target (one place, as in Abseil)."""

ZCIPC_COPTS = [
    "-std=c++17",
    "-Wall",
    "-Wextra",
    "-Wno-unused-parameter",
    "-Wno-missing-field-initializers",
]

# Tests and benchmarks: the same, minus warnings GoogleTest macros trigger.
ZCIPC_TEST_COPTS = ZCIPC_COPTS + ["-Wno-sign-compare"]
