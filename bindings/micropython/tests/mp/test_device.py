# midge.Device for the host test: device lamp1 on the broker at argv[1],
# the LED a recorder, the tutorial's plain topic besides its commands.
# Serves until Ctrl-C (SIGINT), then says "offline" and disconnects.
import sys

import midge
from machine_stub import Pin

led = Pin(4, Pin.OUT, value=0)
d = midge.Device("lamp1", "127.0.0.1", int(sys.argv[1]), led=led.value, log=print,
                 topics=("TurnipRobot",))
d.connect()
print("READY")
try:
    d.run()
except KeyboardInterrupt:
    d.disconnect()
    print("BYE", d.stats())
