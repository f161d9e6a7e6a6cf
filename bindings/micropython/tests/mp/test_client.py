# midge.MQTTClient's own tests, run by MicroPython with the midge module:
#   micropython test_client.py BROKER_PORT FAKE_PORT
# Prints "ok <name>" per test and "ALL OK" at the end; any failure raises
# (the interpreter exits non-zero). "SYNC <what>" asks the host test to do
# something (restart the broker, publish after a pause) and waits for a
# line on stdin.
import gc
import sys
import time

import midge
from midge import MQTTClient, MQTTException
from stream import Wrapper
from umqtt.simple import MQTTClient as UMQTTClient, MQTTException as UMQTTException

PORT = int(sys.argv[1])
FAKE = int(sys.argv[2])
HOST = "127.0.0.1"


def ok(name):
    print("ok", name)


def sync(what):
    print("SYNC", what)
    line = sys.stdin.readline()
    assert line.strip() == "go", line


class Inbox:
    def __init__(self):
        self.msgs = []

    def __call__(self, topic, msg):
        self.msgs.append((topic, msg))


def client(name, **kw):
    c = MQTTClient(name, HOST, PORT, **kw)
    box = Inbox()
    c.set_callback(box)
    return c, box


def raises(exc, fn, *args, **kw):
    try:
        fn(*args, **kw)
    except exc as e:
        return e
    raise AssertionError("no %s from %s" % (exc.__name__, fn))


# --- the API of umqtt.simple -------------------------------------------------


def test_signature():
    # Positional, in umqtt.simple's order.
    c = MQTTClient("sig", HOST, PORT, None, None, 0, None, {})
    assert c.connect() == 0
    c.disconnect()
    # A subscription needs the callback first, as umqtt.simple asserts.
    c = MQTTClient("sig", HOST, PORT)
    c.connect()
    e = raises(AssertionError, c.subscribe, b"x")
    assert "callback" in str(e)
    raises(AssertionError, c.set_last_will, b"", b"m")
    raises(AssertionError, c.set_last_will, b"t", b"m", False, 3)
    c.disconnect()
    ok("signature")


def test_session_present():
    c = MQTTClient("persist", HOST, PORT)
    assert c.connect(clean_session=False) in (0, 1)
    c.disconnect()
    assert c.connect(clean_session=False) == 1
    c.disconnect()
    assert c.connect(clean_session=True) == 0
    c.disconnect()
    ok("connect clean_session and session present")


def test_qos_both_ways():
    a, abox = client("qa")
    b, bbox = client("qb")
    a.connect()
    b.connect()
    a.subscribe(b"q/a/#", 2)
    b.subscribe("q/b/#", qos=2)
    for sender, receiver, rbox, prefix in ((b, a, abox, "q/a/"), (a, b, bbox, "q/b/")):
        for qos in (0, 1, 2):
            sender.publish(prefix + str(qos), b"m%d" % qos, qos=qos)
            op = receiver.wait_msg()
            # umqtt.simple's return value: the PUBLISH's first byte.
            assert op == 0x30 | qos << 1, (op, qos)
            assert rbox.msgs[-1] == ((prefix + str(qos)).encode(), b"m%d" % qos), rbox.msgs
    # A subscription at QoS 1 gets a QoS 2 message at QoS 1.
    a.subscribe(b"q/one", 1)
    b.publish(b"q/one", b"down", qos=2)
    assert a.wait_msg() == 0x32
    # Many in a row, to itself: a PUBACK (and the message) often arrives
    # while publish is still sending, before it waits for the PUBACK.
    for i in range(300):
        a.publish(b"q/one", b"%d" % i, qos=1)
    a.disconnect()
    b.disconnect()
    ok("QoS 0, 1 and 2 both ways")


def test_retain_unsubscribe_check_msg():
    a, abox = client("ra")
    a.connect()
    a.publish(b"r/kept", b"old", retain=True, qos=1)
    b, bbox = client("rb")
    b.connect()
    b.subscribe(b"r/#")
    assert b.wait_msg() == 0x31  # retained
    assert bbox.msgs == [(b"r/kept", b"old")]
    assert b.check_msg() is None
    b.subscribe(b"mark")
    b.unsubscribe(b"r/#")
    a.publish(b"r/new", b"gone")
    a.publish(b"mark", b"here")
    b.wait_msg()
    assert bbox.msgs[-1] == (b"mark", b"here"), bbox.msgs
    a.publish(b"r/kept", b"", retain=True, qos=1)
    b.ping()
    assert b.isconnected()
    a.disconnect()
    b.disconnect()
    assert not b.isconnected()
    ok("retain, unsubscribe, check_msg, ping")


def test_callback_publish_and_exception():
    a, abox = client("cba")
    a.connect()
    a.subscribe(b"cb/#", 1)

    def echo(topic, msg):
        abox.msgs.append((topic, msg))
        if topic == b"cb/in":
            a.publish(b"cb/out", msg + b"!", qos=1)  # queued from the callback
        if msg == b"boom":
            raise ValueError("from the callback")

    a.set_callback(echo)
    a.publish(b"cb/in", b"hi", qos=1)
    while (b"cb/out", b"hi!") not in abox.msgs:
        a.wait_msg()
    a.publish(b"cb/x", b"boom")
    raises(ValueError, a.wait_msg)
    # The connection survives the application's exception.
    a.publish(b"cb/x", b"after")
    a.wait_msg()
    assert abox.msgs[-1] == (b"cb/x", b"after")
    a.disconnect()
    ok("publish from the callback; the callback's exception raised by wait_msg")


def test_last_will_over_python_stream():
    w = Wrapper()
    c = MQTTClient("willer", HOST, PORT, ssl=w)
    c.set_last_will(b"will/t", b"gone", qos=1)
    c.connect()
    watcher, box = client("watcher")
    watcher.connect()
    watcher.subscribe(b"will/t", 1)
    # Publish and receive through the stream written in Python, too.
    c.set_callback(Inbox())
    c.subscribe(b"py/t", 2)
    watcher.publish(b"py/t", b"through IOBase", qos=2)
    c.wait_msg()
    assert w.streams[0].reads > 0 and w.streams[0].writes > 0
    # The link dies without DISCONNECT: the broker publishes the will.
    w.streams[0].sock.close()
    watcher.wait_msg()
    assert box.msgs == [(b"will/t", b"gone")], box.msgs
    raises(OSError, c.ping)
    watcher.disconnect()
    ok("an io.IOBase stream as transport; set_last_will")


def test_keepalive_idle():
    c, box = client("idle", keepalive=2)
    c.connect()
    c.subscribe(b"idle/t")
    # The host publishes after 5 s: 2.5 x keepalive, twice the 1.5 x at
    # which the broker drops a silent client. wait_msg pings meanwhile.
    print("SYNC idle")
    c.wait_msg()
    assert box.msgs == [(b"idle/t", b"late")], box.msgs
    c.disconnect()
    ok("keepalive pings while wait_msg idles")


def test_reconnect():
    d, dbox = client("rec", reconnect=True)
    d.connect()
    d.subscribe(b"rec/t", 1)
    plain, _ = client("norec")
    plain.connect()
    sync("restart")
    # The broker is back (without our sessions): reconnect, resubscribe,
    # then the message goes out and comes back.
    d.publish(b"rec/t", b"after restart", qos=1)
    # It may come back while publish waits for its PUBACK (into the
    # callback, as umqtt.simple's publish would deliver it).
    while not dbox.msgs:
        d.wait_msg()
    assert dbox.msgs == [(b"rec/t", b"after restart")], dbox.msgs
    assert d.isconnected()
    # Without reconnect the loss is raised.
    raises(OSError, plain.ping)
    d.disconnect()
    ok("reconnect after a broker restart, resubscribed")


# --- a fake broker ------------------------------------------------------------


def test_refused():
    for code in (1, 2, 3, 4, 5):
        c = MQTTClient("refuse%d" % code, HOST, FAKE)
        e = raises(MQTTException, c.connect)
        assert e.args == (code,), e.args
        # umqtt.simple says the same.
        u = UMQTTClient("refuse%d" % code, HOST, FAKE)
        ue = raises(UMQTTException, u.connect)
        assert ue.args == e.args
        u.sock.close()
    ok("refused CONNACK: MQTTException(code), as umqtt.simple")


MALFORMED = (
    "bad-connack-length",
    "reserved-type",
    "long-remaining-length",
    "topic-past-end",
    "suback-no-codes",
    "pubrel-flags",
    "garbage-1",
    "garbage-2",
    "garbage-3",
    "closed",
)


def test_malformed():
    for name in MALFORMED:
        c = MQTTClient(name, HOST, FAKE)
        c.set_callback(Inbox())
        try:
            c.connect()
            c.subscribe(b"t")
            c.wait_msg()
            c.wait_msg()
            raise AssertionError("no exception for " + name)
        except (MQTTException, OSError) as e:
            print("  %s: %s %r" % (name, type(e).__name__, e.args))
        c.disconnect()
        gc.collect()
    ok("malformed packets raise and never crash")


# --- memory -----------------------------------------------------------------------


def publish_many(c, n):
    for i in range(n):
        c.publish(b"alloc/t", b"payload of a message")


def test_no_alloc_per_publish():
    c = MQTTClient("alloc", HOST, PORT)
    c.connect()
    publish_many(c, 100)
    gc.collect()
    before = gc.mem_alloc()
    publish_many(c, 10000)
    after = gc.mem_alloc()
    c.disconnect()
    assert after == before, "%d bytes allocated by 10000 publishes" % (after - before)
    ok("10000 QoS 0 publishes allocate 0 bytes")


test_signature()
test_session_present()
test_qos_both_ways()
test_retain_unsubscribe_check_msg()
test_callback_publish_and_exception()
test_last_will_over_python_stream()
test_keepalive_idle()
test_reconnect()
test_refused()
test_malformed()
test_no_alloc_per_publish()
print("ALL OK")
