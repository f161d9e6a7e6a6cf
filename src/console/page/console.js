// midge console: the page's script. No framework: the device cards and the
// command log are kept up to date from the console's event stream (GET
// /events, Server-Sent Events read through fetch so that the api-key header
// can go with it), and the buttons post commands through OneNET's API.
'use strict';

(function () {
  const KEY = 'midge-api-key';
  const LOG_MAX = 100;
  const RETRY_MS = 2000;
  const WAIT_S = 5; // a button's command waits this long for the answer

  const $ = (id) => document.getElementById(id);
  const state = {
    key: sessionStorage.getItem(KEY),
    profile: 'mqtt',
    cards: new Map(),  // device id -> card element
    latest: new Map(), // device id -> {uuid, at}: the command its card shows
    rows: new Map(),   // cmd_uuid -> log row
    abort: null,
    retry: null,
  };

  function setLink(up, text) {
    const link = $('link');
    link.dataset.state = up ? 'up' : 'down';
    link.textContent = text;
  }

  function showLogin(note) {
    if (state.abort) state.abort.abort();
    clearTimeout(state.retry);
    state.key = null;
    sessionStorage.removeItem(KEY);
    $('main').hidden = true;
    $('login').hidden = false;
    $('login-note').textContent = note || '';
    $('key').value = '';
    $('key').focus();
    setLink(false, 'no key');
  }

  function byId(a, b) {
    return a.localeCompare(b, undefined, { numeric: true });
  }

  // --- device cards --------------------------------------------------------

  function card(id) {
    let li = state.cards.get(id);
    if (li) return li;
    li = $('device-card').content.firstElementChild.cloneNode(true);
    li.dataset.device = id;
    li.querySelector('.name').textContent = id;
    for (const b of li.querySelectorAll('button')) {
      b.addEventListener('click', () => send(id, b.dataset.cmd));
    }
    const list = $('devices');
    const after = [...state.cards.keys()].sort(byId).find((other) => byId(other, id) > 0);
    list.insertBefore(li, after ? state.cards.get(after) : null);
    state.cards.set(id, li);
    $('empty').hidden = true;
    return li;
  }

  function showDevice(d) {
    const li = card(d.id);
    const led = li.querySelector('.led');
    const ledState = d.led === 'on' || d.led === 'off' ? d.led : 'unknown';
    led.dataset.state = ledState;
    led.setAttribute('aria-label', 'LED ' + ledState);
    const presence = li.querySelector('.presence');
    presence.dataset.state = d.online ? 'online' : 'offline';
    presence.textContent = d.online ? 'online' : 'offline';
    li.dataset.online = d.online ? 'true' : 'false';
    const dl = li.querySelector('.points');
    dl.replaceChildren();
    if (state.profile === 'onenet' && Array.isArray(d.datapoints)) {
      for (const p of d.datapoints) {
        const dt = document.createElement('dt');
        const dd = document.createElement('dd');
        dt.textContent = String(p.id);
        dd.textContent = typeof p.value === 'string' ? p.value : JSON.stringify(p.value);
        dl.append(dt, dd);
      }
    }
  }

  function dropDevice(id) {
    const li = state.cards.get(id);
    if (li) li.remove();
    state.cards.delete(id);
    $('empty').hidden = state.cards.size > 0;
  }

  function showAnswer(id, text, error) {
    const p = card(id).querySelector('.answer');
    p.textContent = text;
    p.dataset.state = error ? 'error' : 'ok';
  }

  // --- the command log -----------------------------------------------------

  function answerText(c) {
    if (typeof c.resp === 'string') return c.resp;
    if (c.errno) return c.error || 'error ' + c.errno;
    return c.desc;
  }

  function showCommand(c) {
    let li = state.rows.get(c.cmd_uuid);
    if (!li) {
      li = document.createElement('li');
      for (const name of ['time', 'what', 'status', 'resp']) {
        const span = document.createElement('span');
        span.className = name;
        li.append(span);
      }
      li.dataset.uuid = c.cmd_uuid;
      $('log').prepend(li);
      state.rows.set(c.cmd_uuid, li);
      while (state.rows.size > LOG_MAX) {
        const last = $('log').lastElementChild;
        state.rows.delete(last.dataset.uuid);
        last.remove();
      }
    }
    li.dataset.status = String(c.status);
    li.querySelector('.time').textContent = new Date(c.at).toLocaleTimeString();
    li.querySelector('.what').textContent = c.device_id + ' ← ' + c.cmd;
    li.querySelector('.status').textContent = c.desc;
    li.querySelector('.resp').textContent = typeof c.resp === 'string' ? '→ ' + c.resp : '';
    // The card shows its device's newest command, whichever tab sent it.
    const seen = state.latest.get(c.device_id);
    if (state.cards.has(c.device_id) && (!seen || seen.uuid === c.cmd_uuid || c.at >= seen.at)) {
      state.latest.set(c.device_id, { uuid: c.cmd_uuid, at: c.at });
      showAnswer(c.device_id, c.cmd + ' → ' + answerText(c), c.status === 3 || c.status === 5);
    }
  }

  // --- commands ---------------------------------------------------------------

  async function send(id, cmd) {
    const li = card(id);
    const buttons = li.querySelectorAll('button');
    for (const b of buttons) b.disabled = true;
    showAnswer(id, cmd + ' …', false);
    try {
      const url = '/cmds?device_id=' + encodeURIComponent(id) + '&timeout=' + WAIT_S;
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'api-key': state.key, 'Content-Type': 'text/plain' },
        body: cmd,
        cache: 'no-store',
      });
      const body = await res.json();
      if (res.status === 401) {
        showLogin('The console refused that key.');
        return;
      }
      if (body.errno !== 0) {
        showAnswer(id, cmd + ' → ' + body.error, true);
      } else {
        const d = body.data;
        state.latest.set(id, { uuid: d.cmd_uuid, at: Date.now() });
        showAnswer(id, cmd + ' → ' + answerText(d), d.status === 3 || d.status === 5);
      }
    } catch (e) {
      showAnswer(id, cmd + ' → ' + e.message, true);
    } finally {
      for (const b of buttons) b.disabled = false;
    }
  }

  // --- the event stream -----------------------------------------------------------

  function dispatch(event, data) {
    switch (event) {
      case 'hello':
        state.profile = data.profile;
        setLink(data.broker, data.broker ? 'live' : 'broker lost');
        break;
      case 'broker':
        setLink(data.broker, data.broker ? 'live' : 'broker lost');
        break;
      case 'device':
        showDevice(data);
        break;
      case 'gone':
        dropDevice(data.id);
        break;
      case 'command':
        showCommand(data);
        break;
    }
  }

  // One block: "event: NAME" and "data: JSON" lines; ":" starts a comment.
  function parseBlock(block) {
    let event = 'message';
    const data = [];
    for (const line of block.split('\n')) {
      if (line.startsWith('event:')) event = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
    }
    if (data.length === 0) return;
    try {
      dispatch(event, JSON.parse(data.join('\n')));
    } catch (e) {
      console.warn('bad event', event, e);
    }
  }

  async function stream() {
    clearTimeout(state.retry);
    state.abort = new AbortController();
    try {
      const res = await fetch('/events', {
        headers: { 'api-key': state.key },
        cache: 'no-store',
        signal: state.abort.signal,
      });
      if (res.status === 401) {
        showLogin('The console refused that key.');
        return;
      }
      if (!res.ok || !res.body) throw new Error('HTTP ' + res.status);
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += decoder.decode(value, { stream: true });
        let cut;
        while ((cut = buf.indexOf('\n\n')) >= 0) {
          parseBlock(buf.slice(0, cut));
          buf = buf.slice(cut + 2);
        }
      }
    } catch (e) {
      if (e.name === 'AbortError') return;
    }
    if (!state.key) return;
    setLink(false, 'reconnecting…');
    state.retry = setTimeout(stream, RETRY_MS);
  }

  function start() {
    $('login').hidden = true;
    $('main').hidden = false;
    setLink(false, 'connecting…');
    stream();
  }

  $('login').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const key = $('key').value;
    if (!key) return;
    state.key = key;
    sessionStorage.setItem(KEY, key);
    start();
  });
  $('forget').addEventListener('click', () => showLogin(''));

  if (state.key) start();
  else showLogin('');
})();
