# QoS 0 publishes per second and bytes allocated per publish, midge against
# umqtt.simple, in one interpreter against one broker:
#   micropython bench_publish.py PORT [COUNT]
# (umqtt.simple's folder on MICROPYPATH). Each client publishes COUNT
# messages (default 10,000) of 32 bytes to one topic, three rounds each,
# alternating; gc.mem_alloc() is read before and after each round with the
# collector disabled, so every byte allocated counts.
import gc
import sys
import time

import midge
from umqtt.simple import MQTTClient as UMQTTClient

PORT = int(sys.argv[1])
COUNT = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
TOPIC = b"bench/micropython"
PAYLOAD = b"x" * 32


def publish(c, n):
    for _ in range(n):
        c.publish(TOPIC, PAYLOAD)


def round_of(c):
    publish(c, 100)  # warm up: first-time allocations are not per publish
    gc.collect()
    gc.disable()
    before = gc.mem_alloc()
    t0 = time.ticks_us()
    publish(c, COUNT)
    us = time.ticks_diff(time.ticks_us(), t0)
    allocated = gc.mem_alloc() - before
    gc.enable()
    return COUNT * 1000000 // us, allocated / COUNT


clients = {
    "midge": midge.MQTTClient("bench-midge", "127.0.0.1", PORT),
    "umqtt.simple": UMQTTClient("bench-umqtt", "127.0.0.1", PORT),
}
for c in clients.values():
    c.connect()
results = {name: [] for name in clients}
for _ in range(3):
    for name, c in clients.items():
        results[name].append(round_of(c))
for c in clients.values():
    c.disconnect()

best = {}
for name, rounds in results.items():
    rate = max(r for r, _ in rounds)
    per = max(a for _, a in rounds)
    best[name] = rate
    print("%-13s %8d publishes/s  %6.1f bytes allocated per publish" % (name, rate, per))
print("midge / umqtt.simple: %.1fx the rate" % (best["midge"] / best["umqtt.simple"]))
