// Load on `midge console`: many browsers' worth of event streams (scripted
// HTTP clients, not browsers) and a steady rate of commands through OneNET's
// API, with `midge send` timed in the same run for comparison.
//
// Starts its own mosquitto on a free loopback port, DEVICES `midge device`s
// and the console; opens STREAMS event streams; posts RATE commands/s
// (toggle, timeout=5, round robin over the devices) for DURATION s through
// keep-alive connections; meanwhile runs `midge send ... status` one after
// the other. Then it checks that every command was answered and that every
// stream saw every answer, and reports the round trips (p50, p99, max) of
// the API and of `midge send`, and the console's memory (VmRSS, VmHWM).
// Node's standard library only.
//
// Usage: node console_load.mjs MIDGE_BINARY [--streams N] [--rate N]
//        [--duration S] [--devices N] [--json FILE]
import { spawn } from 'node:child_process';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

// The event streams live in worker threads, so that reading them does not
// delay the timing of the commands on the main thread.
const STREAM_WORKERS = 2;
if (!isMainThread) streamWorker();

const argv = process.argv.slice(2);
const midge = argv[0];
const opt = (name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  return i > 0 ? argv[i + 1] : dflt;
};
const STREAMS = Number(opt('streams', 200));
const RATE = Number(opt('rate', 100));
const DURATION = Number(opt('duration', 30));
const DEVICES = Number(opt('devices', 10));
const JSON_OUT = opt('json', null);
const KEY = 'bench-console-key';
if (isMainThread && !midge) {
  console.error('usage: node console_load.mjs MIDGE_BINARY [--streams N] [--rate N] [--duration S] [--devices N] [--json FILE]');
  process.exit(2);
}

const children = [];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function start(cmd, args) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  child.err = '';
  child.stderr.on('data', (d) => {
    if (child.err.length < 1 << 20) child.err += d.toString();
  });
  children.push(child);
  return child;
}

async function waitFor(what, fn, ms = 15000) {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

function memory(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name) => Number((status.match(new RegExp(`${name}:\\s+(\\d+)`)) || [0, 0])[1]);
  return { rss_kib: kb('VmRSS'), hwm_kib: kb('VmHWM') };
}

function quantiles(values) {
  const v = [...values].sort((a, b) => a - b);
  const q = (p) => (v.length ? v[Math.min(v.length - 1, Math.floor(p * v.length))] : NaN);
  return { count: v.length, p50_ms: q(0.5), p99_ms: q(0.99), max_ms: v.length ? v[v.length - 1] : NaN };
}

// One event stream: counts the answered commands it saw, by id.
function openStream(port, seen, key) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/events', agent: false,
      headers: { 'api-key': key } }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`stream: HTTP ${res.statusCode}`));
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        buf += chunk;
        let cut;
        while ((cut = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, cut);
          buf = buf.slice(cut + 2);
          if (block.startsWith('event: command') && block.includes('"status":4')) {
            const m = block.match(/"cmd_uuid":"([0-9a-f-]{36})"/);
            if (m) seen.add(m[1]);
          }
        }
      });
      resolve(req);
    });
    req.on('error', reject);
  });
}

// A worker: opens its streams, says so, then answers each {uuids} with how
// many (stream, uuid) pairs it has seen.
async function streamWorker() {
  const { port, n, key } = workerData;
  const seen = [];
  try {
    for (let i = 0; i < n; i++) {
      seen.push(new Set());
      await openStream(port, seen[i], key);
    }
  } catch (e) {
    parentPort.postMessage({ error: e.message });
    return;
  }
  parentPort.postMessage({ ready: true });
  parentPort.on('message', ({ uuids }) => {
    let delivered = 0;
    for (const s of seen) for (const u of uuids) delivered += s.has(u) ? 1 : 0;
    parentPort.postMessage({ delivered });
  });
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

function post(port, device, body) {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', agent,
      path: `/cmds?device_id=${device}&timeout=5`,
      headers: { 'api-key': KEY, 'Content-Type': 'text/plain', 'Content-Length': body.length } },
    (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => {
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        let j = null;
        try { j = JSON.parse(text); } catch { /* counted as an error */ }
        resolve({ ms, ok: res.statusCode === 200 && j && j.errno === 0 && j.data.status === 4,
          uuid: j && j.data ? j.data.cmd_uuid : null });
      });
    });
    req.on('error', () => resolve({ ms: NaN, ok: false, uuid: null }));
    req.end(body);
  });
}

function sendOnce(brokerPort, device) {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(midge, ['send', '-p', String(brokerPort), '--device-id', device, 'status'],
      { stdio: 'ignore' });
    child.on('exit', (code) => resolve({ ms: Number(process.hrtime.bigint() - t0) / 1e6, ok: code === 0 }));
  });
}

async function main() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'midge-console-load-'));
  const brokerPort = await freePort();
  writeFileSync(path.join(dir, 'mosquitto.conf'),
    `listener ${brokerPort} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 100000\nset_tcp_nodelay true\n`);
  start('/usr/sbin/mosquitto', ['-c', path.join(dir, 'mosquitto.conf')]);
  await waitFor('mosquitto', () => new Promise((resolve) => {
    const s = net.connect(brokerPort, '127.0.0.1', () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
  }));
  const ids = Array.from({ length: DEVICES }, (_, i) => `load-${i}`);
  for (const id of ids) start(midge, ['device', '-p', String(brokerPort), '--device-id', id, '-q']);
  const consoleProc = start(midge, ['console', '-p', String(brokerPort), '--api-key', KEY,
    '--listen', '127.0.0.1:0']);
  let port = 0;
  await waitFor('the console', () => {
    const m = consoleProc.err.match(/listening on http:\/\/127\.0\.0\.1:(\d+)\//);
    port = m ? Number(m[1]) : 0;
    return port !== 0;
  });
  await waitFor('the devices online', () => new Promise((resolve) => {
    http.get({ host: '127.0.0.1', port, path: '/devices', headers: { 'api-key': KEY } }, (res) => {
      let t = '';
      res.on('data', (d) => { t += d; });
      res.on('end', () => resolve((t.match(/"online":true/g) || []).length >= DEVICES));
    }).on('error', () => resolve(false));
  }));
  const memIdle = memory(consoleProc.pid);

  const workers = [];
  for (let w = 0; w < STREAM_WORKERS; w++) {
    const n = Math.floor(STREAMS / STREAM_WORKERS) + (w < STREAMS % STREAM_WORKERS ? 1 : 0);
    const worker = new Worker(new URL(import.meta.url), { workerData: { port, n, key: KEY } });
    await new Promise((resolve, reject) => {
      worker.once('message', (m) => (m.error ? reject(new Error(m.error)) : resolve()));
      worker.once('error', reject);
    });
    workers.push(worker);
  }
  const memStreams = memory(consoleProc.pid);

  // The commands: one every 1000/RATE ms, on a schedule that does not
  // drift (a late tick sends what it owes at once).
  const api = [];
  const sends = [];
  const started = Date.now();
  const total = RATE * DURATION;
  let sent = 0;
  let memPeak = memStreams;
  const sampler = setInterval(() => {
    const m = memory(consoleProc.pid);
    if (m.rss_kib > memPeak.rss_kib) memPeak = m;
  }, 500);
  const sendLoop = (async () => {
    while (Date.now() - started < DURATION * 1000) {
      sends.push(await sendOnce(brokerPort, ids[sends.length % DEVICES]));
    }
  })();
  const pending = [];
  while (sent < total) {
    const due = Math.min(total, Math.floor(((Date.now() - started) * RATE) / 1000) + 1);
    while (sent < due) {
      pending.push(post(port, ids[sent % DEVICES], 'toggle').then((r) => api.push(r)));
      sent++;
    }
    await sleep(Math.max(1, Math.floor(1000 / RATE / 2)));
  }
  await Promise.all(pending);
  await sendLoop;
  clearInterval(sampler);
  const elapsed = (Date.now() - started) / 1000;

  // Every answer on every stream: give the last events a moment.
  const answered = api.filter((r) => r.ok).map((r) => r.uuid);
  const count = () => Promise.all(workers.map((w) => new Promise((resolve) => {
    w.once('message', (m) => resolve(m.delivered));
    w.postMessage({ uuids: answered });
  }))).then((v) => v.reduce((a, b) => a + b, 0));
  let delivered = 0;
  await waitFor('the streams to catch up', async () =>
    (delivered = await count()) === answered.length * STREAMS, 10000).catch(() => {});
  const memEnd = memory(consoleProc.pid);

  const result = {
    streams: STREAMS, rate: RATE, duration_s: DURATION, devices: DEVICES, elapsed_s: elapsed,
    api: { ...quantiles(api.filter((r) => r.ok).map((r) => r.ms)), sent: api.length,
      answered: answered.length, failed: api.length - answered.length },
    midge_send: { ...quantiles(sends.filter((r) => r.ok).map((r) => r.ms)), runs: sends.length,
      failed: sends.filter((r) => !r.ok).length },
    stream_deliveries: { expected: answered.length * STREAMS, delivered },
    console_memory: { idle: memIdle, with_streams: memStreams, peak: memPeak, end: memEnd },
  };
  for (const w of workers) await w.terminate();
  agent.destroy();
  const f = (x) => (Number.isFinite(x) ? x.toFixed(2) : 'n/a');
  console.log(`midge console under load: ${STREAMS} event streams, ${RATE} commands/s for ${DURATION} s over ${DEVICES} devices`);
  console.log(`API POST /cmds (timeout=5, answered): ${result.api.answered}/${result.api.sent} answered, p50 ${f(result.api.p50_ms)} ms, p99 ${f(result.api.p99_ms)} ms, max ${f(result.api.max_ms)} ms`);
  console.log(`midge send (process start, connect, subscribe, publish, answer): ${result.midge_send.count}/${result.midge_send.runs} answered, p50 ${f(result.midge_send.p50_ms)} ms, p99 ${f(result.midge_send.p99_ms)} ms, max ${f(result.midge_send.max_ms)} ms`);
  console.log(`answers on the event streams: ${delivered}/${result.stream_deliveries.expected}`);
  console.log(`console memory (VmRSS): idle ${memIdle.rss_kib} KiB, with ${STREAMS} streams ${memStreams.rss_kib} KiB, peak ${memPeak.rss_kib} KiB, end ${memEnd.rss_kib} KiB (VmHWM ${memEnd.hwm_kib} KiB)`);
  if (JSON_OUT) writeFileSync(JSON_OUT, JSON.stringify(result, null, 2) + '\n');
  rmSync(dir, { recursive: true, force: true });
  return result.api.failed === 0 && delivered === result.stream_deliveries.expected;
}

function cleanup() {
  for (const c of children.reverse()) if (c.exitCode === null) c.kill('SIGTERM');
}

const watchdog = isMainThread && setTimeout(() => {
  console.error('console_load: gave up after the run took 5 minutes');
  cleanup();
  process.exit(1);
}, 300000);

if (isMainThread) main().then((ok) => {
  clearTimeout(watchdog);
  cleanup();
  process.exit(ok ? 0 : 1);
}, (e) => {
  clearTimeout(watchdog);
  console.error(`console_load: ${e.message}`);
  cleanup();
  process.exit(1);
});
