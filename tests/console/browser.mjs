// The web console in a real browser: Debian's chromium, headless, driven by
// playwright-core. Starts its own mosquitto on a free loopback port, two
// `midge device`s (lamp1, lamp2) and `midge console`, then does what a
// person would: opens the page, is refused a wrong key, enters the right
// one, sees both devices, presses toggle and sees the LED and the answer
// change, sees a second tab follow what the first does and the reverse,
// stops a device and sees it go offline without reloading, and checks that
// nothing scrolls sideways 375 px wide. Every wait is bounded.
//
// Usage: node browser.mjs MIDGE_BINARY NPM_DIR OUT_DIR [--screenshot PNG]
// Prints one "ok"/"not ok" line per step and "N passed, N failed".
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtempSync, writeFileSync, rmSync, mkdirSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const [midge, npmDir, outDir, ...rest] = process.argv.slice(2);
if (!midge || !npmDir || !outDir) {
  console.error('usage: node browser.mjs MIDGE_BINARY NPM_DIR OUT_DIR [--screenshot PNG]');
  process.exit(2);
}
const shotAt = rest[0] === '--screenshot' ? rest[1] : null;
const require = createRequire(path.resolve(npmDir, 'package.json'));
const { chromium } = require('playwright-core');

// SECRET_CONSOLE_API_KEY of tests/support/secrets.h: the secrets scan looks for it.
const KEY = 'Console-Api-Key-5b1e';
const WAIT = 10000;
const CHROMIUM = process.env.MIDGE_CHROMIUM || '/usr/bin/chromium';
const children = [];
let passed = 0;
let failed = 0;

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// Start a process; its output goes to OUT_DIR/NAME.log (the secrets scan
// reads that folder) and is kept for waitFor.
function start(name, cmd, args) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  child.output = '';
  const log = path.join(outDir, `browser-${name}.log`);
  const keep = (chunk) => {
    child.output += chunk.toString();
    writeFileSync(log, child.output);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  child.name = name;
  children.push(child);
  return child;
}

async function waitFor(what, fn, ms = WAIT) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function stop(child, signal = 'SIGTERM') {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill(signal);
  });
}

async function step(name, fn) {
  try {
    await fn();
    passed++;
    console.log(`ok - ${name}`);
  } catch (e) {
    failed++;
    console.log(`not ok - ${name}: ${e.message}`);
  }
}

function expect(cond, what) {
  if (!cond) throw new Error(what);
}

// The key typed into the login form of a fresh tab.
async function login(page, key) {
  await page.locator('#key').waitFor({ state: 'visible', timeout: WAIT });
  await page.fill('#key', key);
  await page.click('#login button[type=submit]');
}

const card = (page, id) => page.locator(`li.device[data-device="${id}"]`);
const ledOf = (page, id) => card(page, id).locator('.led').getAttribute('data-state');
const presenceOf = (page, id) => card(page, id).locator('.presence').getAttribute('data-state');
const answerOf = (page, id) => card(page, id).locator('.answer').textContent();

async function main() {
  mkdirSync(outDir, { recursive: true });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'midge-browser-'));
  const brokerPort = await freePort();
  writeFileSync(path.join(dir, 'mosquitto.conf'),
    `listener ${brokerPort} 127.0.0.1\nallow_anonymous true\npersistence false\n`);
  const broker = start('mosquitto', '/usr/sbin/mosquitto', ['-c', path.join(dir, 'mosquitto.conf')]);
  await waitFor('mosquitto', () => new Promise((resolve) => {
    const s = net.connect(brokerPort, '127.0.0.1', () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
  }));
  const lamps = {};
  for (const id of ['lamp1', 'lamp2']) {
    lamps[id] = start(id, midge, ['device', '-p', String(brokerPort), '--device-id', id]);
  }
  const console_ = start('console', midge, ['console', '-p', String(brokerPort),
    '--api-key', KEY, '--listen', '127.0.0.1:0']);
  const url = await waitFor('the console to listen', () => {
    const m = console_.output.match(/listening on (http:\/\/127\.0\.0\.1:\d+\/)/);
    return m && m[1];
  });

  const userData = mkdtempSync(path.join(os.tmpdir(), 'midge-chromium-'));
  const args = ['--headless', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'];
  if (process.getuid && process.getuid() === 0) args.push('--no-sandbox');
  const context = await chromium.launchPersistentContext(userData, {
    executablePath: CHROMIUM, headless: true, args, viewport: { width: 1000, height: 760 },
  });
  try {
    const tab1 = context.pages()[0] || await context.newPage();
    let tab2 = null;

    await step('the page loads and asks for the key', async () => {
      await tab1.goto(url, { timeout: WAIT });
      await tab1.locator('#key').waitFor({ state: 'visible', timeout: WAIT });
      expect(await tab1.locator('#main').isHidden(), 'devices shown before a key');
    });

    await step('a wrong key is refused and asked again', async () => {
      await login(tab1, 'not-the-key');
      await waitFor('the refusal', async () =>
        (await tab1.locator('#login-note').textContent()).includes('refused'));
      expect(await tab1.locator('#login').isVisible(), 'login form gone');
    });

    await step('with the key both devices show, online, LED off', async () => {
      await login(tab1, KEY);
      for (const id of ['lamp1', 'lamp2']) {
        await waitFor(`${id} online`, async () =>
          (await card(tab1, id).count()) === 1 && (await presenceOf(tab1, id)) === 'online');
        expect((await ledOf(tab1, id)) === 'off', `${id} LED not off`);
      }
      expect(await tab1.evaluate(() => sessionStorage.getItem('midge-api-key') !== null),
        'key not kept in sessionStorage');
      expect(await tab1.locator('#login').isHidden(), 'the key form still shown');
    });

    await step('toggle lights the LED and shows the answer', async () => {
      await card(tab1, 'lamp1').locator('button[data-cmd=toggle]').click();
      await waitFor('the LED on', async () => (await ledOf(tab1, 'lamp1')) === 'on');
      await waitFor('the answer', async () => (await answerOf(tab1, 'lamp1')).includes('toggle → on'));
      await waitFor('the log line', async () =>
        (await tab1.locator('#log li').first().textContent()).includes('lamp1 ← toggle'));
    });

    await step('a second tab sees the state, and what it sends shows in both', async () => {
      tab2 = await context.newPage();
      await tab2.goto(url, { timeout: WAIT });
      await login(tab2, KEY);
      await waitFor('lamp1 on in tab 2', async () =>
        (await card(tab2, 'lamp1').count()) === 1 && (await ledOf(tab2, 'lamp1')) === 'on');
      await card(tab2, 'lamp1').locator('button[data-cmd=off]').click();
      for (const [tab, name] of [[tab1, 'tab 1'], [tab2, 'tab 2']]) {
        await waitFor(`the LED off in ${name}`, async () => (await ledOf(tab, 'lamp1')) === 'off');
        await waitFor(`the answer in ${name}`, async () =>
          (await answerOf(tab, 'lamp1')).includes('off → off'));
      }
      await card(tab1, 'lamp2').locator('button[data-cmd=on]').click();
      await waitFor('lamp2 on in tab 2', async () => (await ledOf(tab2, 'lamp2')) === 'on');
    });

    await step('a stopped device goes offline in both tabs without a reload', async () => {
      const marker = await tab1.evaluate(() => { window.__same = 1; return 1; });
      await stop(lamps.lamp2);
      for (const [tab, name] of [[tab1, 'tab 1'], [tab2, 'tab 2']]) {
        await waitFor(`lamp2 offline in ${name}`, async () =>
          (await presenceOf(tab, 'lamp2')) === 'offline');
      }
      expect(await tab1.evaluate(() => window.__same) === marker, 'the page was reloaded');
    });

    await step('375 px wide: nothing scrolls sideways', async () => {
      await tab1.bringToFront();
      await tab1.setViewportSize({ width: 375, height: 740 });
      await tab1.waitForTimeout(200);
      const widths = await tab1.evaluate(() => ({
        scroll: document.documentElement.scrollWidth,
        client: document.documentElement.clientWidth,
      }));
      expect(widths.scroll <= widths.client, `scrollWidth ${widths.scroll} > ${widths.client}`);
      // The buttons stay usable: inside the card, at least 44 px tall.
      const box = await card(tab1, 'lamp1').locator('button[data-cmd=toggle]').boundingBox();
      expect(box && box.x + box.width <= 375 && box.height >= 36, 'toggle button off screen');
    });

    if (shotAt) {
      await step('screenshot', async () => {
        await tab1.bringToFront(); // a background tab renders no frames
        await tab1.setViewportSize({ width: 900, height: 620 });
        await card(tab1, 'lamp1').locator('button[data-cmd=toggle]').click();
        await waitFor('the LED on', async () => (await ledOf(tab1, 'lamp1')) === 'on');
        // Through the DevTools protocol itself: playwright 1.49's own
        // screenshot waits on a frame signal newer chromium builds do not send.
        const cdp = await context.newCDPSession(tab1);
        const shot = await Promise.race([
          cdp.send('Page.captureScreenshot', { format: 'png' }),
          new Promise((_, reject) => setTimeout(() => reject(new Error('no frame in 15 s')), 15000)),
        ]);
        writeFileSync(shotAt, Buffer.from(shot.data, 'base64'));
      });
    }
  } finally {
    await context.close();
    for (const child of children.reverse()) await stop(child);
    rmSync(userData, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
    void broker;
  }
}

const overall = setTimeout(() => {
  console.log('not ok - the whole run took longer than 150 s');
  for (const child of children) child.kill('SIGKILL');
  process.exit(1);
}, 150000);

main().then(() => {
  clearTimeout(overall);
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
}, (e) => {
  clearTimeout(overall);
  console.log(`not ok - setup: ${e.stack || e.message}`);
  for (const child of children) child.kill('SIGKILL');
  console.log(`${passed} passed, ${failed + 1} failed`);
  process.exit(1);
});
