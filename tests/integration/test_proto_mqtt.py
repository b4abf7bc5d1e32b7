# SPDX-License-Identifier: Apache-2.0
"""MQTT request logs.

- The reference captures (../shared/pcaps/mqtt) through --read-pcap: every record checked
  against tshark's MQTT dissection of the same file (packet types, topics, packet ids,
  client id, CONNACK return code, TCP sequence and length of each packet; the pairing
  rebuilt from tshark's packets) and against DeepFlow's parse beside each capture (client
  ids, topics, CONNACK codes). mqtt_error.pcap is a DNS query over TCP that DeepFlow took
  for a CONNACK: no MQTT record here.
- Live: a mosquitto of our own on a free loopback port, driven by mosquitto_sub and
  mosquitto_pub (QoS 0, QoS 1, MQTT 5) and by paho-mqtt (QoS 2); exact records on the
  client (c-p) and the broker (s-p) side.
"""
import json
import shutil
import signal
import subprocess
import time

import pytest

from conftest import AGENT, PCAPS, free_port, need_pcaps, wait_port

TYPES = {1: "CONNECT", 2: "CONNACK", 3: "PUBLISH", 4: "PUBACK", 5: "PUBREC", 6: "PUBREL",
         7: "PUBCOMP", 8: "SUBSCRIBE", 9: "SUBACK", 10: "UNSUBSCRIBE", 11: "UNSUBACK",
         12: "PINGREQ", 13: "PINGRESP", 14: "DISCONNECT"}
VERSIONS = {3: "3.1", 4: "3.1.1", 5: "5"}


def read_pcap(path, *args):
    p = subprocess.run([str(AGENT), "--stdout", "--stats", "--ebpf=false", *args,
                        "--read-pcap", str(path)], capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    rows = [json.loads(line) for line in p.stdout.decode().splitlines()]
    return [r for r in rows if r["table"] == "l7_flow_log"]


def tshark_mqtt(path):
    """MQTT packets as Wireshark dissects them, in capture order."""
    fields = ["tcp.stream", "tcp.srcport", "tcp.dstport", "tcp.seq_raw", "tcp.len",
              "mqtt.msgtype", "mqtt.qos", "mqtt.msgid", "mqtt.topic", "mqtt.clientid",
              "mqtt.conack.val", "mqtt.ver"]
    out = subprocess.run(["tshark", "-r", str(path), "-Y", "mqtt", "-T", "fields",
                          "-E", "separator=\t", "-E", "occurrence=a", "-E", "aggregator=|",
                          *sum((["-e", f] for f in fields), [])],
                         capture_output=True, text=True, check=True).stdout
    pkts = []
    for line in out.splitlines():
        v = dict(zip(fields, line.split("\t")))
        assert "|" not in v["mqtt.msgtype"], "one MQTT packet per segment in these captures"
        pkts.append(v)
    return pkts


def expected_from_tshark(pkts):
    """The records the pairing rules give for tshark's packets (see docs/protocols.md)."""
    recs, client_id, version = [], {}, {}
    by_order, by_id = {}, {}
    for p in pkts:
        stream = p["tcp.stream"]
        t = int(p["mqtt.msgtype"])
        name = TYPES[t]
        from_client = p["tcp.dstport"] == "1883"
        seq = int(p["tcp.seq_raw"])
        pid = int(p["mqtt.msgid"]) if p["mqtt.msgid"] else None
        if t == 1:
            client_id[stream] = p["mqtt.clientid"]
            version[stream] = VERSIONS[int(p["mqtt.ver"])]
        topics = p["mqtt.topic"].replace("|", ",")
        req = {"request_type": name, "request_resource": topics, "request_id": pid,
               "request_domain": client_id.get(stream, ""), "req_tcp_seq": seq,
               "request_length": int(p["tcp.len"]), "version": version.get(stream, ""),
               "client_port": int(p["tcp.srcport" if from_client else "tcp.dstport"])}
        if from_client:
            qos = int(p["mqtt.qos"] or 0)
            if t == 14 or (t == 3 and qos == 0):
                recs.append({**req, "type": 0, "response_code": None, "resp_tcp_seq": 0})
            elif t in (1, 12):
                by_order.setdefault(stream, []).append(req)
            else:
                by_id[(stream, pid)] = req
        else:
            if t in (2, 13):
                q = by_order[stream].pop(0)
            elif t == 3:
                recs.append({**req, "type": 1, "request_type": "PUBLISH", "req_tcp_seq": 0,
                             "response_code": None, "resp_tcp_seq": seq})
                continue
            else:
                q = by_id.pop((stream, pid))
            code = int(p["mqtt.conack.val"]) if p["mqtt.conack.val"] else None
            recs.append({**q, "type": 2, "response_code": code, "resp_tcp_seq": seq,
                         "response_length": int(p["tcp.len"])})
    assert not by_id and not any(by_order.values())
    return recs


def project(r, keys):
    return tuple(r.get(k) for k in keys)


@pytest.mark.parametrize("name", ["mqtt_roundtrip.pcap", "mqtt_pub.pcap",
                                  "mqtt_connect.pcap", "mqtt_sub.pcap"])
def test_captures_match_tshark(name):
    need_pcaps()
    path = PCAPS / "mqtt" / name
    recs = read_pcap(path)
    want = expected_from_tshark(tshark_mqtt(path))
    assert len(recs) == len(want), json.dumps(recs, indent=1)
    for r in recs:
        assert r["l7_protocol"] == "MQTT" and r["protocol"] == 6 and r["server_port"] == 1883
        assert r["response_status"] == 0 and r["response_exception"] == ""
        assert r["endpoint"] == r["request_resource"]
    keys = ["type", "request_type", "request_resource", "request_id", "request_domain",
            "version", "response_code", "req_tcp_seq", "resp_tcp_seq", "client_port"]
    assert sorted(project(r, keys) for r in recs) == sorted(project(w, keys) for w in want)
    # packet sizes: a request's (and a session's response) is its whole segment
    lens = {(w["req_tcp_seq"], w["resp_tcp_seq"]): w for w in want}
    for r in recs:
        w = lens[(r["req_tcp_seq"], r["resp_tcp_seq"])]
        if r["type"] != 1:
            assert r["request_length"] == w["request_length"]
        if r["type"] == 2:
            assert r["response_length"] == w["response_length"]


def deepflow_result(path):
    """(client ids, topics, CONNACK codes) from DeepFlow's parse beside a capture."""
    ids, topics, codes = [], [], []
    for line in path.with_suffix(".result").read_text().splitlines():
        if 'client_id: Some("' in line:
            ids.append(line.split('client_id: Some("', 1)[1].split('"', 1)[0])
        if 'publish_topic: Some("' in line:
            topics.append(line.split('publish_topic: Some("', 1)[1].split('"', 1)[0])
        if "subscribe_topics: Some([" in line:
            part = line.split("subscribe_topics: Some([", 1)[1].split("])", 1)[0]
            topics.append(",".join(x.split('"')[1] for x in part.split("MqttTopic")[1:]))
        if "pkt_type: Connack" in line:
            codes.append(int(line.split("code: Some(", 1)[1].split(")", 1)[0]))
    return ids, topics, codes


@pytest.mark.parametrize("name", ["mqtt_roundtrip.pcap", "mqtt_pub.pcap",
                                  "mqtt_connect.pcap"])
def test_captures_match_deepflow(name):
    need_pcaps()
    path = PCAPS / "mqtt" / name
    recs = read_pcap(path)
    ids, topics, codes = deepflow_result(path)
    assert [r["request_domain"] for r in recs if r["request_type"] == "CONNECT"] == ids
    assert sorted(r["request_resource"] for r in recs if r["request_resource"]) == \
        sorted(topics)
    assert [r["response_code"] for r in recs if r["request_type"] == "CONNECT"] == codes


def test_error_capture_is_not_mqtt():
    """mqtt_error.pcap: a DNS query over TCP to port 53 that DeepFlow read as a CONNACK."""
    need_pcaps()
    recs = read_pcap(PCAPS / "mqtt" / "mqtt_error.pcap")
    assert [r["l7_protocol"] for r in recs] == ["DNS"]


# ---- live --------------------------------------------------------------------------------

@pytest.fixture
def mosquitto(tmp_path):
    for tool in ("mosquitto", "mosquitto_pub", "mosquitto_sub"):
        if not shutil.which(tool) and not shutil.which(tool, path="/usr/sbin:/usr/bin"):
            pytest.fail(f"{tool} missing (Debian packages mosquitto, mosquitto-clients; "
                        f"scripts/install-deps.sh --test installs them)")
    port = free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                    f"log_dest file {tmp_path / 'mosquitto.log'}\n")
    exe = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin")
    proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        yield {"port": port, "pid": proc.pid}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def sides(recs):
    cp = [r for r in recs if r["observation_point"] == "c-p"]
    sp = [r for r in recs if r["observation_point"] == "s-p"]
    return cp, sp


def fields(r):
    return (r["type"], r["version"], r["request_type"], r["request_domain"],
            r["request_resource"], r["request_id"] is not None, r["response_code"],
            r["response_status"], r["response_exception"])


PAHO_QOS2 = r"""
import sys, time
import paho.mqtt.client as mqtt
done = []
c = mqtt.Client(client_id="paho2", protocol=mqtt.MQTTv311)
c.on_publish = lambda *a: done.append(1)
c.connect("127.0.0.1", int(sys.argv[1]))
c.loop_start()
info = c.publish("t/two", b"exactly once", qos=2)
info.wait_for_publish(10)
c.disconnect()
c.loop_stop()
assert done
"""


def test_mosquitto_clients(mosquitto, agent_factory):
    port = mosquitto["port"]
    agent = agent_factory()
    # stdbuf: mosquitto_sub's debug lines (which tell the subscription is in place) are
    # written through stdio, block-buffered into a pipe otherwise
    sub = subprocess.Popen(["stdbuf", "-oL", "mosquitto_sub", "-p", str(port), "-h", "127.0.0.1", "-i", "sub1",
                            "-t", "t/live", "-q", "1", "-C", "2", "-d"],
                           stdout=subprocess.PIPE, text=True)
    try:
        out = []
        while not any("SUBACK" in line for line in out):
            line = sub.stdout.readline()
            assert line, "mosquitto_sub ended early: " + "".join(out)
            out.append(line)
        pub = ["mosquitto_pub", "-p", str(port), "-h", "127.0.0.1", "-t"]
        subprocess.run([*pub, "t/live", "-m", "hello", "-q", "0", "-i", "pub0"], check=True,
                       timeout=30)
        subprocess.run([*pub, "t/live", "-m", "world", "-q", "1", "-i", "pub1"], check=True,
                       timeout=30)
        subprocess.run([*pub, "t/v5", "-m", "five", "-q", "1", "-i", "pub5", "-V", "mqttv5"],
                       check=True, timeout=30)
        rest, _ = sub.communicate(timeout=30)
        got = [line for line in (out + rest.splitlines(True))
               if not line.startswith(("Client", "Subscribed"))]
        assert [g.strip() for g in got] == ["hello", "world"]
        assert sub.returncode == 0
    finally:
        if sub.poll() is None:
            sub.kill()
            sub.wait()
    p = subprocess.run(["/usr/bin/python3", "-c", PAHO_QOS2, str(port)], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    recs = [r for r in agent.stop() if r.get("table") == "l7_flow_log"
            and r["server_port"] == port]
    cp, sp = sides(recs)
    assert cp and sp, json.dumps(agent.records, indent=1)
    v3, v5 = "3.1.1", "5"
    want = [
        # mosquitto_sub: subscribes, receives one message at QoS 0 and one at QoS 1
        (2, v3, "CONNECT", "sub1", "", False, 0, 0, ""),
        (2, v3, "SUBSCRIBE", "sub1", "t/live", True, None, 0, ""),
        # the broker's deliveries answer no request: lone responses, which name what they
        # carry (the subscriber's client id, the topic; the QoS 1 one has its packet
        # identifier), as DeepFlow's records of a broker's PUBLISH do
        (1, v3, "PUBLISH", "sub1", "t/live", False, None, 0, ""),
        (1, v3, "PUBLISH", "sub1", "t/live", True, None, 0, ""),
        (0, v3, "PUBACK", "sub1", "", True, None, 0, ""),
        (0, v3, "DISCONNECT", "sub1", "", False, None, 0, ""),
        # mosquitto_pub -q 0
        (2, v3, "CONNECT", "pub0", "", False, 0, 0, ""),
        (0, v3, "PUBLISH", "pub0", "t/live", False, None, 0, ""),
        (0, v3, "DISCONNECT", "pub0", "", False, None, 0, ""),
        # mosquitto_pub -q 1
        (2, v3, "CONNECT", "pub1", "", False, 0, 0, ""),
        (2, v3, "PUBLISH", "pub1", "t/live", True, None, 0, ""),
        (0, v3, "DISCONNECT", "pub1", "", False, None, 0, ""),
        # mosquitto_pub -V mqttv5 -q 1: nobody subscribes to t/v5
        (2, v5, "CONNECT", "pub5", "", False, 0, 0, ""),
        (2, v5, "PUBLISH", "pub5", "t/v5", True, 16, 0, ""),
        (0, v5, "DISCONNECT", "pub5", "", False, None, 0, ""),
        # paho-mqtt, QoS 2
        (2, v3, "CONNECT", "paho2", "", False, 0, 0, ""),
        (2, v3, "PUBLISH", "paho2", "t/two", True, None, 0, ""),
        (2, v3, "PUBREL", "paho2", "", True, None, 0, ""),
        (0, v3, "DISCONNECT", "paho2", "", False, None, 0, ""),
    ]
    for side in (cp, sp):
        got = sorted(fields(r) for r in side)
        assert got == sorted(want), json.dumps(side, indent=1)
    for r in recs:
        assert r["l7_protocol"] == "MQTT" and r["protocol"] == 6 and r["signal_source"] == 3
        assert r["endpoint"] == r["request_resource"]
    # both ends saw the same packets
    key = lambda r: (r["client_port"], r["req_tcp_seq"], r["resp_tcp_seq"])  # noqa: E731
    assert sorted(key(r) for r in cp) == sorted(key(r) for r in sp)
    assert {r["process_id_1"] for r in sp} == {mosquitto["pid"]}
    assert all(r["process_kname_1"] == "mosquitto" for r in sp)
    assert all(r["process_kname_0"] in ("mosquitto_sub", "mosquitto_pub", "python3")
               for r in cp)
    # the QoS 1 publish and its PUBACK share the packet identifier as request_id
    q1 = [r for r in cp if r["request_domain"] == "pub1" and r["request_type"] == "PUBLISH"]
    assert q1[0]["request_id"] >= 1 and q1[0]["response_length"] == 4
