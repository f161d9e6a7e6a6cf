# Runs the tutorial's mqtt.py (extracted from the tutorial by the test, its
# logic unchanged) with machine.Pin replaced by the recorder, against the
# broker on 127.0.0.1 (the port is written into the copy by the test).
import sys
import machine_stub

sys.modules["machine"] = machine_stub
import mqtt

mqtt.main("127.0.0.1")
