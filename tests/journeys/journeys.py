#!/usr/bin/env python3
"""The README's journeys: every shell block of README.md, run as written.

    journeys.py README MIDGE_BINARY [OUTPUT_DIR]

A shell block is an indented code block, or a fenced one marked sh, bash,
shell or console. Each is run, or marked exempt, by an HTML comment on the
lines just before it (blank lines may come between):

    <!-- journey: skip, REASON -->        exempt; the reason is required
    <!-- journey: ITEM, ITEM... -->        run, with each of:
        run                               (nothing more: run as written)
        background                        each command must start and keep
                                          running (a device, a subscriber
                                          that waits for ever); it is then
                                          stopped with SIGINT
        device ID                         first start `midge device
                                          --device-id ID` and leave it running
        offline device ID on|off          first run a device, set its LED so,
                                          then stop it (SIGTERM)
        file NAME TEXT                    first write a file in the working
                                          directory

A block without a comment is run as it is. Every block gets a fresh
mosquitto on a free loopback port and a fresh working directory. The
commands are taken from the README, not retyped, with one substitution:
the example broker (`broker.example`, or none: the default localhost) is
the test's own (`-h 127.0.0.1`, `127.0.0.1:PORT` in a `-L` URL, and
MIDGE_HOST / MIDGE_PORT in the environment). `midge` is the binary under test; `./scripts/...` run from
the repository root.

In a block, `$ command` is followed by the output the README shows: the
command's standard output, then its standard error, must be exactly those
lines.
A command without `$` must succeed. A `#` comment line that says
`exit status N` sets the status the next command must end with. Every
command is bounded (COMMAND_LIMIT_S); a block that is neither run nor
exempt, an exemption without a reason, or any mismatch fails the test.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

COMMAND_LIMIT_S = 120
BACKGROUND_SETTLE_S = 1.5
SHELL_LANGS = {"sh", "bash", "shell", "console"}


class Block:
    def __init__(self, line, lines, note):
        self.line = line  # 1-based line of the block's first line in the README
        self.lines = lines
        self.note = note  # the journey comment's text, or None


def find_blocks(text):
    """Every shell block of a Markdown text, with the journey note before it."""
    lines = text.split("\n")
    blocks = []
    i = 0
    prev_blank = True
    note = None

    def note_before(idx):
        j = idx - 1
        while j >= 0 and lines[j].strip() == "":
            j -= 1
        if j >= 0:
            m = re.fullmatch(r"\s*<!--\s*journey:\s*(.*?)\s*-->\s*", lines[j])
            if m:
                return m.group(1)
        return None

    while i < len(lines):
        line = lines[i]
        fence = re.match(r"^(```+|~~~+)\s*(\S*)", line)
        if fence:
            mark, lang = fence.group(1), fence.group(2).lower()
            start = i
            body = []
            i += 1
            while i < len(lines) and not lines[i].startswith(mark):
                body.append(lines[i])
                i += 1
            i += 1
            if lang in SHELL_LANGS:
                blocks.append(Block(start + 2, body, note_before(start)))
            prev_blank = False
            continue
        if line.startswith("    ") and prev_blank and line.strip():
            start = i
            body = []
            while i < len(lines) and (lines[i].startswith("    ") or lines[i].strip() == ""):
                body.append(lines[i][4:])
                i += 1
            while body and body[-1].strip() == "":
                body.pop()
            blocks.append(Block(start + 1, body, note_before(start)))
            prev_blank = False
            continue
        prev_blank = line.strip() == ""
        i += 1
    return blocks


class Step:
    def __init__(self, command, expect, status, line):
        self.command = command
        self.expect = expect  # None: output not checked
        self.status = status
        self.line = line


def parse_steps(block):
    """The commands of a block, each with its expected output and status."""
    steps = []
    status = 0
    i = 0
    lines = block.lines
    while i < len(lines):
        raw = lines[i]
        text = raw.strip()
        if not text:
            i += 1
            continue
        if text.startswith("#"):
            m = re.search(r"exit status (\d+)", text)
            if m:
                status = int(m.group(1))
            i += 1
            continue
        shown = text.startswith("$ ")
        command = text[2:] if shown else text
        at = block.line + i
        while command.endswith("\\") and i + 1 < len(lines):
            i += 1
            command = command[:-1].rstrip() + " " + lines[i].strip()
        i += 1
        expect = None
        if shown:
            expect = []
            while i < len(lines):
                nxt = lines[i]
                if not nxt.strip() or nxt.lstrip().startswith("$ ") or nxt.lstrip().startswith("#"):
                    break
                expect.append(nxt.rstrip())
                i += 1
        steps.append(Step(command, expect, status, at))
        status = 0
    return steps


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, limit_s):
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.05)
    return False


class Journey:
    def __init__(self, root, midge, output_dir):
        self.root = root
        self.midge = midge
        self.output_dir = output_dir
        self.procs = []
        self.seq = 0

    # --- the block's world: a broker, a directory, fixtures ---------------

    def start(self):
        self.work = tempfile.mkdtemp(prefix="midge-journey-")
        os.chmod(self.work, 0o755)  # a root-started mosquitto reads its config as mosquitto
        self.port = free_port()
        conf = os.path.join(self.work, "mosquitto.conf")
        with open(conf, "w") as f:
            f.write(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
        self.broker = subprocess.Popen(["mosquitto", "-c", conf], stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
        if not wait_port(self.port, 10):
            raise RuntimeError("mosquitto did not start")
        bindir = os.path.join(self.work, "bin")
        os.mkdir(bindir)
        os.symlink(self.midge, os.path.join(bindir, "midge"))
        self.env = dict(os.environ)
        self.env["PATH"] = bindir + os.pathsep + self.env.get("PATH", "")
        self.env["MIDGE_HOST"] = "127.0.0.1"
        self.env["MIDGE_PORT"] = str(self.port)
        self.cwd = os.path.join(self.work, "cwd")
        os.mkdir(self.cwd)

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        self.procs = []
        self.broker.terminate()
        try:
            self.broker.wait(5)
        except subprocess.TimeoutExpired:
            self.broker.kill()
            self.broker.wait()
        shutil.rmtree(self.work, ignore_errors=True)

    def substitute(self, command):
        # A URL names the port too (-L mqtt://user@broker.example/topic).
        command = re.sub(r"(mqtts?://(?:[^@/\s]*@)?)broker\.example(?::\d+)?",
                         lambda m: f"{m.group(1)}127.0.0.1:{self.port}", command)
        command = re.sub(r"-h broker\.example\b", "-h 127.0.0.1", command)
        command = command.replace("broker.example", "127.0.0.1")
        command = re.sub(r"(^|\s)\./scripts/", r"\1" + self.root + "/scripts/", command)
        return command

    def capture(self, command, output, streams="stdout+stderr"):
        """Keep what a midge command printed, for the secrets scan."""
        if not self.output_dir or "midge" not in command:
            return
        self.seq += 1
        path = os.path.join(self.output_dir, f"journeys.{os.getpid()}.{self.seq}.log")
        header = ("midge-test-output 1\nprogram: journeys (pid %d)\nsubcommand: %s\n"
                  "streams: %s\ncommand: %s\n----\n"
                  % (os.getpid(), command.split()[1] if len(command.split()) > 1 else "", streams,
                     re.sub(r"(-P|--password|--device-key)\s+\S+", r"\1 ********", command)))
        try:
            os.makedirs(self.output_dir, exist_ok=True)
            with open(path, "wb") as f:
                f.write(header.encode() + output)
        except OSError:
            pass

    def run(self, command, limit=COMMAND_LIMIT_S):
        """Run a command; its status (None: killed at the limit) and its
        standard output followed by its standard error."""
        p = subprocess.Popen(["bash", "-c", command], cwd=self.cwd, env=self.env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             start_new_session=True)
        status = None
        try:
            out, err = p.communicate(timeout=limit)
            status = p.returncode
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            out, err = p.communicate()
        self.capture(command, out, "stdout")
        self.capture(command, err, "stderr")
        return status, out + err

    def background(self, command, settle=BACKGROUND_SETTLE_S):
        p = subprocess.Popen(["bash", "-c", "exec " + command], cwd=self.cwd, env=self.env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             start_new_session=True)
        self.procs.append(p)
        time.sleep(settle)
        return p

    def finish_background(self, p, command):
        alive = p.poll() is None
        if alive:
            os.killpg(p.pid, signal.SIGINT)
        try:
            out, _ = p.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            out, _ = p.communicate()
        self.capture(command, out)
        return alive, out

    def ask(self, device, command):
        status, out = self.run(f"midge send --device-id {device} -W 5 {command}", 20)
        return status == 0, out.decode(errors="replace").strip()

    def device(self, device):
        p = self.background(f"midge device --device-id {device}", 0)
        for _ in range(50):
            ok, answer = self.ask(device, "status")
            if ok:
                return p
            if p.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"fixture device {device} never answered")

    def fixtures(self, items):
        for item in items:
            words = item.split()
            if item in ("run", "background"):
                continue
            if words[0] == "device" and len(words) == 2:
                self.device(words[1])
            elif words[:2] == ["offline", "device"] and len(words) == 4:
                p = self.device(words[2])
                ok, answer = self.ask(words[2], words[3])
                if not ok or answer != words[3]:
                    raise RuntimeError(f"fixture {item}: the device answered {answer!r}")
                p.send_signal(signal.SIGTERM)
                p.wait(10)
            elif words[0] == "file" and len(words) >= 3:
                with open(os.path.join(self.cwd, words[1]), "w") as f:
                    f.write(" ".join(words[2:]) + "\n")
            else:
                raise RuntimeError(f"unknown fixture {item!r}")


FIXTURES = ("run", "background", "device", "offline device", "file")


def note_items(note):
    """The items of a journey note that is not a skip."""
    return [i.strip() for i in (note or "").split(",") if i.strip()]


def check_block(j, block):
    """Run one block; a list of failures (empty: it passed)."""
    items = note_items(block.note)
    background = "background" in items
    failures = []
    steps = parse_steps(block)
    if not steps:
        return [f"line {block.line}: a shell block without a command"]
    j.start()
    try:
        j.fixtures(items)
        for step in steps:
            command = j.substitute(step.command)
            if background:
                alive, out = j.finish_background(j.background(command), command)
                if not alive:
                    failures.append(f"line {step.line}: `{step.command}` did not keep running: "
                                    f"{out.decode(errors='replace').strip()[:300]}")
                continue
            status, out = j.run(command)
            text = out.decode(errors="replace")
            if status is None:
                failures.append(f"line {step.line}: `{step.command}` still running after "
                                f"{COMMAND_LIMIT_S} s")
                continue
            if status != step.status:
                failures.append(f"line {step.line}: `{step.command}` exited {status}, not "
                                f"{step.status}: {text.strip()[-500:]}")
                continue
            if step.expect is not None:
                got = [l.rstrip() for l in text.rstrip("\n").split("\n")] if text.strip() else []
                if got != step.expect:
                    failures.append(f"line {step.line}: `{step.command}` printed {got!r}, "
                                    f"the README shows {step.expect!r}")
    except RuntimeError as e:
        failures.append(f"line {block.line}: {e}")
    finally:
        j.stop()
    return failures


def main():
    if len(sys.argv) < 3:
        print("usage: journeys.py README MIDGE_BINARY [OUTPUT_DIR]", file=sys.stderr)
        return 2
    readme = os.path.abspath(sys.argv[1])
    root = os.path.dirname(readme)
    midge = os.path.abspath(sys.argv[2])
    output_dir = sys.argv[3] if len(sys.argv) > 3 else ""
    with open(readme) as f:
        blocks = find_blocks(f.read())
    j = Journey(root, midge, output_dir)
    ran = skipped = failed = 0
    only = os.environ.get("JOURNEY_LINE")
    for block in blocks:
        if only and str(block.line) != only:
            continue
        note = block.note
        first = block.lines[0].strip() if block.lines else ""
        if note is not None and note.startswith("skip"):
            reason = note[4:].lstrip(" ,").strip()
            if not reason:
                print(f"FAIL  line {block.line}: skipped without a reason")
                failed += 1
            else:
                print(f"SKIP  line {block.line}: {first[:60]} ({reason})")
                skipped += 1
            continue
        unknown = [i for i in note_items(note) if not i.startswith(FIXTURES)]
        if unknown:
            print(f"FAIL  line {block.line}: unknown journey note item {unknown[0]!r}")
            failed += 1
            continue
        start = time.monotonic()
        failures = check_block(j, block)
        took = time.monotonic() - start
        if failures:
            failed += 1
            print(f"FAIL  line {block.line}: {first[:60]} ({took:.1f} s)")
            for f in failures:
                print(f"      {f}")
        else:
            ran += 1
            print(f"PASS  line {block.line}: {first[:60]} ({took:.1f} s)")
    print(f"journeys: {ran} blocks ran as written, {skipped} exempt, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
