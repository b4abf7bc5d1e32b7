#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Write a large synthetic capture for the replay benchmark: HTTP/1.1 keep-alive
connections over Ethernet/IPv4/TCP, each with a handshake, several request/response
exchanges (responses of one to three segments, each acknowledged) and a FIN close, with
connections interleaved so that the flow table holds many at once.

    bench/pcap_gen.py OUT.pcap [PACKETS]      (default 1,000,000 packets)
"""
import random
import struct
import sys

ETH = bytes.fromhex("020000000002" "020000000001" "0800")
BACK = bytes.fromhex("020000000001" "020000000002" "0800")


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def frame(fwd, src, dst, sport, dport, seq, ack, flags, payload=b""):
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 5 << 4,
                      flags, 65535, 0, 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return (ETH if fwd else BACK) + ip + tcp


def connection(i, rnd):
    """The packets of one connection, as (frame) in order."""
    cli = bytes([10, 1, (i >> 8) & 255, i & 255])
    srv = bytes([10, 2, 0, 1 + i % 16])
    cp, sp = 20000 + i % 40000, 80
    cs, ss = rnd.getrandbits(32), rnd.getrandbits(32)
    A, S, F, P = 0x10, 0x02, 0x01, 0x08
    out = [frame(True, cli, srv, cp, sp, cs, 0, S), frame(False, srv, cli, sp, cp, ss, cs + 1, S | A),
           frame(True, cli, srv, cp, sp, cs + 1, ss + 1, A)]
    cs, ss = cs + 1, ss + 1
    for k in range(rnd.randint(2, 8)):
        req = (f"GET /api/item/{i}/{k}?q={rnd.getrandbits(20)} HTTP/1.1\r\nHost: shop.local\r\n"
               f"User-Agent: bench\r\nAccept: */*\r\n\r\n").encode()
        out.append(frame(True, cli, srv, cp, sp, cs, ss, P | A, req))
        cs += len(req)
        body = b"x" * rnd.choice((120, 1400, 3000))
        resp = (f"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}"
                f"\r\n\r\n").encode() + body
        for off in range(0, len(resp), 1448):
            seg = resp[off:off + 1448]
            out.append(frame(False, srv, cli, sp, cp, ss, cs, P | A, seg))
            ss += len(seg)
        out.append(frame(True, cli, srv, cp, sp, cs, ss, A))
    out += [frame(True, cli, srv, cp, sp, cs, ss, F | A), frame(False, srv, cli, sp, cp, ss, cs + 1, F | A),
            frame(True, cli, srv, cp, sp, cs + 1, ss + 1, A)]
    return out


def main():
    path = sys.argv[1]
    want = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
    rnd = random.Random(42)
    t = 1_700_000_000_000_000  # µs
    written, i = 0, 0
    live = []  # connections in progress: interleave 64 at a time
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        while written < want:
            while len(live) < 64:
                live.append(iter(connection(i, rnd)))
                i += 1
            k = rnd.randrange(len(live))
            fr = next(live[k], None)
            if fr is None:
                live.pop(k)
                continue
            t += 3
            f.write(struct.pack("<IIII", t // 1_000_000, t % 1_000_000, len(fr), len(fr)))
            f.write(fr)
            written += 1
    print(f"{path}: {written} packets, {i} connections")


if __name__ == "__main__":
    main()
