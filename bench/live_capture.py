#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Live capture under load: two network namespaces joined by a veth pair, nginx in one,
wrk in the other downloading a file as fast as the machine allows, and flowscope-agent
capturing on the client's end of the veth (packets only, AF_PACKET TPACKET_V3). Prints
the traffic rate, what the agent captured, and what the kernel could not queue for it
(drop_pkt_kernel), side by side with the same load without the agent.

    sudo bench/live_capture.py [--seconds N] [--connections N] [--size BYTES]
"""
import argparse
import pathlib
import re
import shutil
import signal
import subprocess
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
import os
AGENT = pathlib.Path(os.environ.get("FLOWSCOPE_AGENT", ROOT / "build" / "flowscope-agent"))
C, S = "fsbc", "fsbs"
CIP, SIP = "10.93.0.1", "10.93.0.2"

CONF = """
worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    client_body_temp_path {d}/b; proxy_temp_path {d}/p; fastcgi_temp_path {d}/f;
    uwsgi_temp_path {d}/u; scgi_temp_path {d}/s;
    server {{ listen {ip}:80; location / {{ root {d}/www; }} }}
}}
"""


def sh(*cmd, check=True):
    return subprocess.run(cmd, check=check, capture_output=True, text=True)


def wrk(seconds, conns, path):
    out = sh("ip", "netns", "exec", C, "wrk", "-t1", f"-c{conns}", f"-d{seconds}s",
             f"http://{SIP}{path}").stdout
    m = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", out)
    scale = {"B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9}[m.group(2)]
    req = re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)
    return float(m.group(1)) * scale * 8 / 1e9, float(req)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--size", type=int, default=64 * 1024)
    a = ap.parse_args()
    d = pathlib.Path(tempfile.mkdtemp(prefix="flowscope-live-"))
    d.chmod(0o755)
    (d / "www").mkdir()
    (d / "www" / "f.bin").write_bytes(b"z" * a.size)
    nginx = agent = None
    try:
        sh("ip", "netns", "add", C)
        sh("ip", "netns", "add", S)
        sh("ip", "link", "add", "fsbc0", "netns", C, "type", "veth", "peer", "name", "fsbs0",
           "netns", S)
        for ns, dev, ip in ((C, "fsbc0", CIP), (S, "fsbs0", SIP)):
            sh("ip", "netns", "exec", ns, "ip", "addr", "add", f"{ip}/24", "dev", dev)
            sh("ip", "netns", "exec", ns, "ip", "link", "set", dev, "up")
            sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
        (d / "nginx.conf").write_text(CONF.format(d=d, ip=SIP))
        nginx = subprocess.Popen(["ip", "netns", "exec", S, "nginx", "-p", str(d), "-c",
                                  str(d / "nginx.conf")])
        time.sleep(0.5)
        wrk(2, a.connections, "/f.bin")  # warm up: page cache, nginx, TCP memory
        base_gbps, base_rps = wrk(a.seconds, a.connections, "/f.bin")
        err = d / "agent.err"
        agent = subprocess.Popen(["ip", "netns", "exec", C, str(AGENT), "--ebpf=false",
                                  "--interface", "fsbc0", "--stdout", "--stats"],
                                 stdout=subprocess.DEVNULL, stderr=open(err, "w"))
        while "capturing packets" not in err.read_text():
            time.sleep(0.05)
        gbps, rps = wrk(a.seconds, a.connections, "/f.bin")
        agent.send_signal(signal.SIGINT)
        agent.wait(timeout=60)
        # Without again, after: the mean of before and after is the baseline.
        g2, r2 = wrk(a.seconds, a.connections, "/f.bin")
        base_gbps, base_rps = (base_gbps + g2) / 2, (base_rps + r2) / 2
        stats = {m.group(1): int(m.group(2)) for m in
                 re.finditer(r"^  ([a-z_0-9]+)\s+(\d+)", err.read_text(), re.M)}
        frames, drops = stats["pkt_frames"], stats["drop_pkt_kernel"]
        print(f"load: wrk, {a.connections} connections, {a.size} B responses, {a.seconds} s")
        print(f"without agent: {base_gbps:.2f} Gbit/s, {base_rps:.0f} req/s")
        print(f"with agent:    {gbps:.2f} Gbit/s, {rps:.0f} req/s (ratio {rps / base_rps:.2f})")
        print(f"captured {frames} frames ({frames / a.seconds / 1e3:.0f} kpps), kernel drops "
              f"{drops} ({100 * drops / max(1, frames + drops):.3f}%), "
              f"flows {stats['flows_created']}, request logs {stats['pkt_l7_records']}")
    finally:
        if agent and agent.poll() is None:
            agent.kill()
        if nginx:
            nginx.send_signal(signal.SIGQUIT)
            nginx.wait(timeout=10)
        sh("ip", "netns", "del", C, check=False)
        sh("ip", "netns", "del", S, check=False)
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
