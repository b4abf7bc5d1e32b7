# SPDX-License-Identifier: Apache-2.0
"""Ingest batches (src/wire/flowscope_wire.proto) encoded by hand, with no protobuf module:
the tests build bodies the agent would never send as easily as the ones it does."""
import pathlib
import shutil
import subprocess
import tempfile

# scripts/install-deps.sh --test installs the zstd tool; without it these tests fail
# (they are not skipped) so a machine missing it is noticed.
assert shutil.which("zstd"), "the zstd tool is missing: run scripts/install-deps.sh --test"


def zstd_compress(data):
    # The zstd tool records the content size in the frame header (the decoder needs it)
    # when it knows the input size, i.e. when the input is a file, not a pipe.
    with tempfile.TemporaryDirectory() as d:
        src = pathlib.Path(d) / "batch.pb"
        src.write_bytes(data)
        subprocess.run(["zstd", "-q", "-f", str(src), "-o", str(src) + ".zst"], check=True)
        return pathlib.Path(str(src) + ".zst").read_bytes()


def varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def pb_int(field, v):
    return varint(field << 3) + varint(v)


def pb_bytes(field, b):
    if isinstance(b, str):
        b = b.encode()
    return varint(field << 3 | 2) + varint(len(b)) + b


def make_batch(seq, records, version=1, agent_id="test-agent", counters=()):
    """A compressed Batch of already encoded L7Record messages and (name, value) counters."""
    pb = pb_int(1, version) + pb_bytes(2, agent_id) + pb_int(3, seq)
    for r in records:
        pb += pb_bytes(4, r)
    for name, value in counters:
        pb += pb_bytes(5, pb_bytes(1, name) + pb_int(2, value))
    return zstd_compress(pb)
