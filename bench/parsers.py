#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""L7 parser throughput per protocol, on the reference captures (../shared/pcaps/<proto>/)
and on the large generated HTTP capture (bench/pcap_gen.py). For each protocol directory,
build/bench/proto_bench reads its captures once through the packet path, keeps the payload
each flow hands to the L7 side, and times only the replay of that payload through
detection, the parser, pairing and record building, pinned to one CPU. Prints records/s
and MB/s per core.

    bench/parsers.py [--pcaps DIR] [--cpu N] [--min-cpu-ms N]
"""
import argparse
import os
import pathlib
import re
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
BENCH = ROOT / "build" / "bench" / "proto_bench"


def run(files, cpu, min_ms):
    p = subprocess.run(["taskset", "-c", str(cpu), str(BENCH), "--min-cpu-ms", str(min_ms)]
                       + [str(f) for f in files], capture_output=True, text=True)
    if p.returncode != 0:
        return None, p.stderr.strip()
    return dict(re.findall(r"(\w+)=([\w.]+)", p.stdout)), p.stdout.strip()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pcaps", default=os.environ.get("FLOWSCOPE_PCAPS",
                                                      str(ROOT.parent / "shared" / "pcaps")))
    ap.add_argument("--cpu", type=int, default=1)
    ap.add_argument("--min-cpu-ms", type=int, default=1000)
    a = ap.parse_args()
    if not BENCH.exists():
        sys.exit("build the benchmarks first: make tests")
    pcaps = pathlib.Path(a.pcaps)
    if not pcaps.is_dir():
        sys.exit(f"no reference captures at {pcaps} (set --pcaps or FLOWSCOPE_PCAPS)")
    groups = []
    for d in sorted(p for p in pcaps.iterdir() if p.is_dir() and not p.name.startswith("_")):
        files = sorted(d.glob("*.pcap")) + sorted(d.glob("*.pcapng"))
        if files:
            groups.append((d.name, files))
    with tempfile.TemporaryDirectory(prefix="flowscope-parsers-") as tmp:
        gen = pathlib.Path(tmp) / "http-gen.pcap"
        subprocess.run([sys.executable, str(ROOT / "bench" / "pcap_gen.py"), str(gen),
                        "200000"], check=True, stdout=subprocess.DEVNULL)
        groups.append(("http (generated, 200k packets)", [gen]))
        print(f"{'captures':32} {'records/pass':>12} {'records/s':>12} {'MB/s':>8}  protocols")
        for name, files in groups:
            r, text = run(files, a.cpu, a.min_cpu_ms)
            # A capture libpcap refuses (memcached-userdata.pcap's format) is left out,
            # and said so, rather than losing the whole group.
            bad = [f for f in files if r is None and f"{f}:" in text]
            if bad:
                files = [f for f in files if f not in bad]
                name += " (without " + ", ".join(f.name for f in bad) + ")"
                r, text = run(files, a.cpu, a.min_cpu_ms) if files else (None, text)
            if r is None:
                print(f"{name:32} {'-':>12} {'-':>12} {'-':>8}  ({text})")
                continue
            protos = " ".join(f"{k}={v}" for k, v in r.items()
                              if k not in ("captures", "deliveries", "payload_bytes",
                                           "records_per_pass", "passes", "cpu_s",
                                           "records_per_s", "mb_per_s"))
            print(f"{name:32} {r['records_per_pass']:>12} {float(r['records_per_s']):>12,.0f}"
                  f" {float(r['mb_per_s']):>8.1f}  {protos}")


if __name__ == "__main__":
    main()
