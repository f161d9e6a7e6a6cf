#!/usr/bin/env python3
"""The MicroPython module's tests (ctest label `micropython`):

    run.py GROUP OUT_DIR MIDGE_BINARY

GROUP is one of
  build     the unix port without and with the module; the module imports
            in one and not the other; what the module adds to the binary
  tutorial  the tutorial's mqtt.py, logic unchanged, on umqtt.simple and on
            midge: the same LED values in the same order; then with
            keepalive=5 idle for 20 s, and across a broker restart
  module    midge.MQTTClient's own tests (mp/test_client.py)
  device    midge.Device driven by `midge send`, `midge pub`, `midge devices`
  suite     MicroPython's own test suite: the same results with the module

Every group first brings the interpreters up to date (build.sh, a no-op
when nothing changed); without a MicroPython source it says so in one line
and exits 77 (skipped)."""

import json
import os
import re
import shutil
import subprocess
import sys
import time

import harness
from harness import Broker, FakeBroker, MicroPython, check, midge

SEED = os.path.join(harness.HERE, "..", "..", "..", "..", "shared", "seed",
                    "tpyboard-v202-onenet-mqtt.rst")


def build(out):
    r = subprocess.run(["bash", os.path.join(harness.HERE, "build.sh"), out])
    if r.returncode == 77:
        sys.exit(77)
    check(r.returncode == 0, "build.sh failed")
    return harness.load_env(out)


# --- build ------------------------------------------------------------------------


def text_data(exe):
    out = subprocess.run(["size", exe], capture_output=True, text=True, check=True).stdout
    text, data, bss = out.splitlines()[1].split()[:3]
    return int(text), int(data), int(bss)


def group_build(env, out, tool):
    r = subprocess.run([env["MP_MIDGE"], "-c", "import midge; print(midge.MQTTClient.__name__)"],
                       capture_output=True, text=True, timeout=30)
    check(r.stdout.strip() == "MQTTClient", "midge does not import: %r" % (r.stdout + r.stderr))
    r = subprocess.run([env["MP_PLAIN"], "-c", "import midge"], capture_output=True, text=True,
                       timeout=30)
    check(r.returncode != 0, "the plain interpreter has midge")
    plain, with_midge = text_data(env["MP_PLAIN"]), text_data(env["MP_MIDGE"])
    print("unix port: text %d, data %d, bss %d bytes; with midge: text %d, data %d, bss %d"
          % (plain + with_midge))
    print("the module adds %d bytes of text, %d of data, %d of bss"
          % tuple(b - a for a, b in zip(plain, with_midge)))


# --- the tutorial --------------------------------------------------------------------


def tutorial_source():
    """mqtt.py as the tutorial prints it: the block after 'mqtt.py源码::',
    indented by two tabs in the page."""
    with open(SEED, encoding="utf-8") as f:
        lines = f.read().split("\n")
    start = next(i for i, l in enumerate(lines) if l.strip() == "mqtt.py源码::") + 1
    block = []
    for line in lines[start:]:
        if line.strip() and not line.startswith("\t\t"):
            break
        block.append(line[2:] if line.strip() else "")
    return "\n".join(block).strip("\n") + "\n"


CONNECT_LINE = "c = MQTTClient(CLIENT_ID, server,6002,username,password)"


def write_tutorial(workdir, name, port, use_midge, extra_args=""):
    """The tutorial's mqtt.py with only these changes: the import (midge or
    not), the port (a loopback mosquitto's), and extra constructor
    arguments where asked."""
    src = tutorial_source()
    check(CONNECT_LINE in src and "from simple import MQTTClient" in src,
          "the tutorial's mqtt.py is not as expected")
    src = src.replace(CONNECT_LINE, "c = MQTTClient(CLIENT_ID, server,%d,username,password%s)"
                      % (port, extra_args))
    if use_midge:
        src = src.replace("from simple import MQTTClient", "from midge import MQTTClient")
    d = os.path.join(workdir, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "mqtt.py"), "w", encoding="utf-8") as f:
        f.write(src)
    return d


def start_tutorial(env, d):
    p = MicroPython(env["MP_MIDGE"], [os.path.join(harness.MP_DIR, "tutorial_run.py")], cwd=d,
                    path=[d] + harness.umqtt_path(env["MP_SRC"]))
    p.expect(r"^Connected to 127\.0\.0\.1, subscribed to b'TurnipRobot' topic", 20)
    return p


def command(tool, broker, p, cmd):
    """`midge pub -t TurnipRobot -m CMD`, then wait for the callback's print
    and for the LED write that follows it (toggle prints nothing else)."""
    start = len(p.lines)
    rc, _, err = midge(tool, "pub", "-h", "127.0.0.1", "-p", str(broker.port), "-t",
                       "TurnipRobot", "-m", cmd)
    check(rc == 0, "midge pub failed: " + err)
    i = p.expect(r"^\(b'TurnipRobot', b'%s'\)$" % cmd, 20, start)
    p.expect(r"^LED ", 20, i)


def led_values(p):
    return [l.split()[1] for l in p.matching(r"^LED ")]


def group_tutorial(env, out, tool):
    work = os.path.join(out, "tutorial")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    cmds = ["on", "off", "toggle", "toggle", "toggle", "on", "off"]

    broker = Broker(work)
    runs = {}
    for name, use_midge in (("umqtt", False), ("midge", True)):
        d = write_tutorial(work, name, broker.port, use_midge)
        p = start_tutorial(env, d)
        for cmd in cmds:
            command(tool, broker, p, cmd)
        p.stop()
        runs[name] = led_values(p)
        print("%s: LED %s" % (name, " ".join(runs[name])))
    check(runs["umqtt"] == runs["midge"], "LED values differ: %r" % runs)
    check(runs["midge"] == ["0", "1", "0", "1", "0", "1", "1", "0"], "LED values: %r" % runs)
    print("ok: the same LED values in the same order on umqtt.simple and midge")

    # keepalive=5 and 20 s of silence: midge pings, umqtt.simple (on a
    # broker of its own, in the same 20 s) sends nothing and is dropped.
    other = Broker(work)
    pm = start_tutorial(env, write_tutorial(work, "keepalive-midge", broker.port, True,
                                            ", keepalive=5"))
    pu = start_tutorial(env, write_tutorial(work, "keepalive-umqtt", other.port, False,
                                            ", keepalive=5"))
    time.sleep(20)
    check(pu.proc.poll() is not None, "umqtt.simple was not dropped: the idle test proves nothing")
    check("exceeded timeout" in other.log(), "the broker did not drop umqtt.simple")
    check(pm.proc.poll() is None, "midge's script ended while idle")
    check("exceeded timeout" not in broker.log(), "the broker dropped midge: " + broker.log())
    command(tool, broker, pm, "on")
    check(led_values(pm) == ["0", "1"], "LED after idling: %r" % led_values(pm))
    pm.stop()
    other.stop()
    print("ok: keepalive=5, 20 s idle: midge stays connected (umqtt.simple was dropped)")

    # reconnect=True across a broker restart (SIGKILL, then the same port).
    p = start_tutorial(env, write_tutorial(work, "reconnect", broker.port, True,
                                           ", keepalive=5, reconnect=True"))
    command(tool, broker, p, "on")
    mark = len(broker.log())
    broker.restart()
    # Resubscribed by the client itself (mosquitto logs "ID QOS FILTER").
    broker.wait_log(r"9377500 0 TurnipRobot", 30, mark)
    for cmd in ("off", "toggle"):
        command(tool, broker, p, cmd)
    check(led_values(p) == ["0", "1", "0", "1"], "LED across the restart: %r" % led_values(p))
    p.stop()
    broker.stop()
    print("ok: reconnect=True: the script goes on across a broker restart")


# --- the module's own tests ---------------------------------------------------------------


def garbage(seed, n=64):
    out, x = bytearray(), seed
    for _ in range(n):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        out.append((x >> 16) & 0xFF)
    return bytes(out)


CONNACK_OK = b"\x20\x02\x00\x00"
SUBACK_OK = b"\x90\x03\x00\x01\x00"


def fake_script(client_id):
    m = re.match(r"refuse(\d)$", client_id)
    if m:
        return [b"\x20\x02\x00" + bytes([int(m.group(1))])]
    return {
        "bad-connack-length": [b"\x20\x03\x00\x00\x00"],
        "reserved-type": [CONNACK_OK, "read", b"\x00\x00"],
        "long-remaining-length": [CONNACK_OK, "read", b"\x30\xff\xff\xff\xff\x7f"],
        "topic-past-end": [CONNACK_OK, "read", SUBACK_OK, b"\x30\x04\x00\x10ab"],
        "suback-no-codes": [CONNACK_OK, "read", b"\x90\x02\x00\x01"],
        "pubrel-flags": [CONNACK_OK, "read", SUBACK_OK, b"\x60\x02\x00\x01"],
        "garbage-1": [CONNACK_OK, "read", SUBACK_OK, garbage(1)],
        "garbage-2": [CONNACK_OK, garbage(2)],
        "garbage-3": [CONNACK_OK, "read", SUBACK_OK, garbage(3, 300)],
        "closed": [CONNACK_OK, "read", SUBACK_OK, "close"],
    }.get(client_id, ["close"])


def group_module(env, out, tool):
    work = os.path.join(out, "module")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    broker = Broker(work)
    fake = FakeBroker(fake_script)
    p = MicroPython(env["MP_MIDGE"], [os.path.join(harness.MP_DIR, "test_client.py"),
                                      str(broker.port), str(fake.port)],
                    cwd=work, path=harness.umqtt_path(env["MP_SRC"])[:1])
    i = p.expect(r"^SYNC idle$", 60)
    time.sleep(5)
    rc, _, err = midge(tool, "pub", "-h", "127.0.0.1", "-p", str(broker.port), "-t", "idle/t",
                       "-m", "late")
    check(rc == 0, "midge pub: " + err)
    i = p.expect(r"^SYNC restart$", 30, i)
    broker.restart()
    p.send("go")
    p.expect(r"^ALL OK$", 120, i)
    rc = p.wait(30)
    check(rc == 0, "micropython exited with %s" % rc)
    check(not re.search(r"Client idle .*exceeded timeout", broker.log()),
          "the broker dropped the idle client")
    fake.close()
    broker.stop()


# --- midge.Device ---------------------------------------------------------------------------


def group_device(env, out, tool):
    work = os.path.join(out, "device")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    broker = Broker(work)
    hp = ["-h", "127.0.0.1", "-p", str(broker.port)]
    p = MicroPython(env["MP_MIDGE"], [os.path.join(harness.MP_DIR, "test_device.py"),
                                      str(broker.port)], cwd=work)
    p.expect(r"^READY$", 20)

    # Each command, answered as `midge device` answers it.
    for cmd, answer in (("on", "on"), ("off", "off"), ("toggle", "on"), ("toggle", "off"),
                        ("status", "off"), ("on", "on")):
        rc, so, se = midge(tool, "send", *hp, "--device-id", "lamp1", cmd)
        check(rc == 0 and so.strip() == answer,
              "send %s: status %d, %r %r" % (cmd, rc, so, se))
    rc, so, _ = midge(tool, "send", *hp, "--device-id", "lamp1", "blink")
    check(rc == 1 and so.startswith("error: unknown command"), "send blink: %d %r" % (rc, so))
    check(led_values(p) == ["0", "1", "0", "1", "0", "1"], "LED: %r" % led_values(p))
    rc, so, _ = midge(tool, "devices", *hp)
    check(so.strip() == "lamp1 online on", "devices: %r" % so)

    # A repeated command id: answered twice, carried out once.
    sub = subprocess.Popen([tool, "sub", *hp, "-t", "devices/lamp1/cmd/response/same-id",
                            "-C", "2", "-W", "20"], stdout=subprocess.PIPE, text=True)
    time.sleep(0.5)
    for _ in range(2):
        rc, _, se = midge(tool, "pub", *hp, "-q", "1", "-t", "devices/lamp1/cmd/request/same-id",
                          "-m", "toggle")
        check(rc == 0, "pub: " + se)
    answers, _ = sub.communicate(timeout=30)
    check(answers.split() == ["off", "off"], "answers to a repeated id: %r" % answers)
    check(led_values(p) == ["0", "1", "0", "1", "0", "1", "0"], "LED: %r" % led_values(p))

    # The tutorial's plain topic switches the LED without an answer.
    rc, _, se = midge(tool, "pub", *hp, "-t", "TurnipRobot", "-m", "on")
    check(rc == 0, "pub: " + se)
    deadline = time.monotonic() + 10
    while len(led_values(p)) < 8 and time.monotonic() < deadline:
        time.sleep(0.05)
    check(led_values(p)[-1:] == ["1"], "LED after TurnipRobot on: %r" % led_values(p))

    # Ctrl-C ends run(); the script says "offline" and disconnects.
    harness.signal_int(p)
    p.expect(r"^BYE \(\d+, 1, 1, 0\)$", 20)
    check(p.wait(20) == 0, "the device script failed")
    rc, so, _ = midge(tool, "devices", *hp)
    check(so.strip() == "lamp1 offline on", "devices after stop: %r" % so)
    broker.stop()
    print("ok: midge.Device: every command, a repeated id, the plain topic, a clean stop")


# --- MicroPython's own suite ----------------------------------------------------------------


def suite_results(env, exe, result_dir, files=()):
    shutil.rmtree(result_dir, ignore_errors=True)
    e = dict(os.environ, MICROPY_MICROPYTHON=exe)
    tests = os.path.join(env["MP_SRC"], "tests")
    jobs = "-j1" if files else "-j2"
    r = subprocess.run([sys.executable, "run-tests.py", jobs, "-r", result_dir] + list(files),
                       cwd=tests, env=e, capture_output=True, text=True, timeout=900)
    if not files:
        print(r.stdout.strip().splitlines()[-1] if r.stdout.strip() else r.stderr)
    with open(os.path.join(result_dir, "_results.json")) as f:
        data = json.load(f)
    # Tests MicroPython itself lists as flaky may go either way.
    flaky = set(data.get("ignored_tests", []))
    return {name: result for name, result, *_ in data["results"]}, flaky


def group_suite(env, out, tool):
    plain, flaky1 = suite_results(env, env["MP_PLAIN"], os.path.join(out, "suite-plain"))
    with_midge, flaky2 = suite_results(env, env["MP_MIDGE"], os.path.join(out, "suite-midge"))
    flaky = flaky1 | flaky2
    keys = (set(plain) | set(with_midge)) - flaky
    differ = sorted(k for k in keys if plain.get(k) != with_midge.get(k))
    # Timing-sensitive tests (the REPL's, asyncio's) may flip on a loaded
    # machine: a difference counts only if it stays in three runs of the
    # test alone on both interpreters.
    for attempt in range(3):
        if not differ:
            break
        print("again, one at a time: %s" % " ".join(differ))
        a, _ = suite_results(env, env["MP_PLAIN"], os.path.join(out, "suite-plain-again"), differ)
        b, _ = suite_results(env, env["MP_MIDGE"], os.path.join(out, "suite-midge-again"), differ)
        differ = [k for k in differ if a.get(k) != b.get(k)]
    for k in differ:
        print("differs: %s: %s without the module, %s with it" % (k, plain.get(k),
                                                                   with_midge.get(k)))
    check(not differ, "%d tests give another result with the module" % len(differ))
    count = {}
    for v in plain.values():
        count[v] = count.get(v, 0) + 1
    print("ok: the same result for all %d tests with and without the module (%s)"
          % (len(keys), ", ".join("%d %s" % (n, k) for k, n in sorted(count.items()))))


GROUPS = {
    "build": group_build,
    "tutorial": group_tutorial,
    "module": group_module,
    "device": group_device,
    "suite": group_suite,
}


def main():
    group, out, tool = sys.argv[1], os.path.abspath(sys.argv[2]), sys.argv[3]
    env = build(out)
    try:
        GROUPS[group](env, out, tool)
    except harness.Failure as e:
        print("FAIL: %s" % e)
        return 1
    finally:
        harness.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
