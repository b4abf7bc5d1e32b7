#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Packet replay, side by side in one run on one generated capture (bench/pcap_gen.py):

  replay_bench      our packet path alone (decode, flows, reassembly, HTTP parsing)
  agent             flowscope-agent --read-pcap --stdout > /dev/null (JSON included)
  tcpdump           tcpdump -r FILE -w /dev/null (read and write back, no dissection)
  tshark            tshark -r FILE -T fields with the same L7 fields we extract

Each is pinned to one CPU (taskset) and timed by its own CPU time (user + sys, from
wait4), best of --repeat runs. Prints packets/s per core and our speed-up over each.

    bench/replay.py [--packets N] [--repeat N] [--cpu N] [--keep FILE]
"""
import argparse
import os
import pathlib
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]


def cpu_time(cmd, stdout=subprocess.DEVNULL):
    p = subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.PIPE)
    _, status, ru = os.wait4(p.pid, 0)
    err = p.stderr.read().decode(errors="replace")
    p.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{cmd[2:]} failed:\n{err}")
    return ru.ru_utime + ru.ru_stime


def best(cmd, repeat):
    return min(cpu_time(cmd) for _ in range(repeat))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--packets", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--cpu", type=int, default=1)
    ap.add_argument("--keep", help="write the capture here and keep it")
    a = ap.parse_args()
    d = tempfile.mkdtemp(prefix="flowscope-replay-")
    path = a.keep or os.path.join(d, "bench.pcap")
    subprocess.run([sys.executable, str(ROOT / "bench" / "pcap_gen.py"), path, str(a.packets)],
                   check=True)
    pin = ["taskset", "-c", str(a.cpu)]
    out = subprocess.run([*pin, str(ROOT / "build" / "bench" / "replay_bench"), path, "--repeat",
                          str(a.repeat)], capture_output=True, text=True, check=True).stdout
    fig = dict(kv.split("=") for kv in out.split())
    n = int(fig["packets"])
    ours = float(fig["cpu_s"])
    agent = best([*pin, str(ROOT / "build" / "flowscope-agent"), "--stdout", "--read-pcap", path],
                 a.repeat)
    tcpdump = best([*pin, "tcpdump", "-r", path, "-w", "/dev/null"], a.repeat)
    tshark = best([*pin, "tshark", "-r", path, "-T", "fields", "-e", "ip.src", "-e", "tcp.srcport",
                   "-e", "http.request.method", "-e", "http.request.uri", "-e", "http.host",
                   "-e", "http.response.code", "-e", "tcp.seq_raw"], 1)
    print(f"capture: {n} packets, {int(fig['bytes']) / 1e6:.0f} MB, {fig['flows']} flows, "
          f"{fig['l7_records']} request logs")
    print(f"{'':14} {'cpu s':>8} {'Mpps/core':>10} {'Gbit/s':>8} {'ours faster':>12}")
    for name, t in (("replay_bench", ours), ("agent+json", agent), ("tcpdump", tcpdump),
                    ("tshark", tshark)):
        print(f"{name:14} {t:8.3f} {n / t / 1e6:10.3f} {int(fig['bytes']) * 8 / t / 1e9:8.2f} "
              f"{t / ours:11.1f}x")
    if not a.keep:
        os.unlink(path)
        os.rmdir(d)


if __name__ == "__main__":
    main()
