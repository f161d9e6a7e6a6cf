"""Helpers for the MicroPython tests (host side, Python 3): a mosquitto on
a free loopback port that can be killed and restarted on the same port, a
MicroPython process read line by line with bounded waits, a scripted fake
broker, and `midge pub`. Every wait has a deadline; every process started
here is stopped by `cleanup()`."""

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
MP_DIR = os.path.join(HERE, "mp")

_procs = []


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_accepts(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class Broker:
    """mosquitto on 127.0.0.1, its log (everything) in a file of its own."""

    def __init__(self, workdir, extra=""):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="broker-", dir=workdir)
        self.conf = os.path.join(self.dir, "mosquitto.conf")
        self.log_path = os.path.join(self.dir, "mosquitto.log")
        with open(self.conf, "w") as f:
            f.write("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n"
                    "log_dest stderr\nlog_type all\nlog_timestamp false\n%s" % (self.port, extra))
        self.proc = None
        self.start()

    def start(self):
        log = open(self.log_path, "a")
        deadline = time.monotonic() + 10
        while True:
            self.proc = subprocess.Popen(["mosquitto", "-c", self.conf], stdout=log, stderr=log)
            _procs.append(self.proc)
            while time.monotonic() < deadline and self.proc.poll() is None:
                if port_accepts(self.port):
                    return
                time.sleep(0.05)
            # The port may still be held by the previous instance: try again.
            check(time.monotonic() < deadline, "mosquitto did not start on port %d" % self.port)
            time.sleep(0.2)

    def kill(self):
        """SIGKILL, as a crash would."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def restart(self):
        self.kill()
        self.start()

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def wait_log(self, pattern, timeout, start=0):
        """Wait for `pattern` in the log after offset `start`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if re.search(pattern, self.log()[start:]):
                return
            time.sleep(0.05)
        raise Failure("broker log: no %r within %s s" % (pattern, timeout))

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class MicroPython:
    """A MicroPython process; stdout read into lines by a thread."""

    def __init__(self, exe, args, cwd, path=()):
        env = dict(os.environ)
        env["MICROPYPATH"] = ":".join([MP_DIR] + list(path) + [".frozen"])
        self.proc = subprocess.Popen([exe] + list(args), cwd=cwd, env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        _procs.append(self.proc)
        self.lines = []
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            sys.stdout.write("  | %s\n" % line)
            sys.stdout.flush()
            with self.lock:
                self.lines.append(line)

    def expect(self, pattern, timeout, start=0):
        """Index of the first line from `start` on matching `pattern`."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                for i in range(start, len(self.lines)):
                    if re.search(pattern, self.lines[i]):
                        return i
            if time.monotonic() >= deadline:
                raise Failure("micropython: no line matching %r within %s s" % (pattern, timeout))
            if self.proc.poll() is not None:
                self.reader.join(timeout=2)
                with self.lock:
                    if not any(re.search(pattern, l) for l in self.lines[start:]):
                        raise Failure("micropython exited (%s) before printing %r"
                                      % (self.proc.returncode, pattern))
            time.sleep(0.02)

    def send(self, line):
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()

    def matching(self, pattern):
        with self.lock:
            return [l for l in self.lines if re.search(pattern, l)]

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise Failure("micropython still running after %s s" % timeout)
        finally:
            self.reader.join(timeout=2)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.reader.join(timeout=2)


def midge(bin_path, *args, timeout=20):
    """Run the midge tool; returns (exit status, stdout, stderr)."""
    r = subprocess.run([bin_path] + list(args), capture_output=True, text=True, timeout=timeout)
    return r.returncode, r.stdout, r.stderr


class FakeBroker:
    """Accepts connections on a free port; for each, reads the CONNECT and
    plays `script(client_id)`: bytes to send, "read" (one packet from the
    client) or "close"; then keeps the connection until the client closes
    it, 2 s at most."""

    def __init__(self, script):
        self.script = script
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @staticmethod
    def _read_packet(conn):
        head = conn.recv(1)
        if not head:
            return None
        length, shift = 0, 0
        while True:
            b = conn.recv(1)[0]
            length |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        body = b""
        while len(body) < length:
            chunk = conn.recv(length - len(body))
            if not chunk:
                return None
            body += chunk
        return head + body

    def _serve_one(self, conn):
        conn.settimeout(10)
        pkt = self._read_packet(conn)
        if pkt is None or pkt[0] != 0x10:
            return
        # CONNECT: protocol name (2 + 4), level, flags, keepalive, then the id.
        body = pkt[1:]
        id_len = (body[10] << 8) | body[11]
        client_id = body[12:12 + id_len].decode()
        for part in self.script(client_id):
            if part == "close":
                return
            if part == "read":
                if self._read_packet(conn) is None:
                    return
            else:
                conn.sendall(part)
        # Stay until the client goes (what it reads is ours only), 2 s at
        # most: a client waiting for the rest of a packet then sees a close.
        conn.settimeout(2)
        while conn.recv(4096):
            pass

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn):
        try:
            self._serve_one(conn)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self.sock.close()


def cleanup():
    for p in _procs:
        if p.poll() is None:
            p.kill()
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass


def load_env(out_dir):
    """The build's paths (build.sh writes them)."""
    env = {}
    with open(os.path.join(out_dir, "env")) as f:
        for line in f:
            k, _, v = line.strip().partition("=")
            env[k] = v
    return env


def umqtt_path(src):
    """Folders of umqtt.simple in the archive's micropython-lib: the package
    (`from umqtt.simple import ...`) and the module itself (`from simple
    import ...`, as the tutorial has it)."""
    base = os.path.join(src, "lib", "micropython-lib", "micropython", "umqtt.simple")
    return [base, os.path.join(base, "umqtt")]


def signal_int(proc):
    proc.proc.send_signal(signal.SIGINT)
