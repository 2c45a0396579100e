// End-to-end test of the web chat page (web/) against a real parleyd, driven in the system
// Chromium through playwright-core (no browser download).
//
//   PARLEY_BIN_DIR    where parleyd is            (default build/bin of this checkout)
//   PARLEY_ARTIFACTS  screenshots and server log  (default build/artifacts of this checkout)
//   PARLEY_CHROMIUM   the browser executable      (default /usr/bin/chromium)
//
// DEBUG_WAIT=1 logs how long each UI expectation took to come true.
// The steps share one server and one browser and run in order; after the first failure the
// remaining steps are skipped (their failures would only repeat it). The server is stopped
// and the browser closed in `after`, whatever happened, and by an exit hook as a last resort.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN_DIR = process.env.PARLEY_BIN_DIR || path.join(REPO, 'build/bin');
const ARTIFACTS = process.env.PARLEY_ARTIFACTS || path.join(REPO, 'build/artifacts');
const CHROMIUM = process.env.PARLEY_CHROMIUM || '/usr/bin/chromium';
const PARLEYD = path.join(BIN_DIR, 'parleyd');
const STEP_TIMEOUT = 45_000;
const WAIT = 10_000; // how long a UI expectation may take to come true

const CHROME_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

// ---------------------------------------------------------------------------------------------
// Server process.

let tmpDir;
let server = null; // { proc, port, base }
let serverLog;
const liveProcs = new Set();

process.on('exit', () => {
  for (const p of liveProcs) { try { p.kill('SIGKILL'); } catch { /* already gone */ } }
});

async function startServer(port = 0) {
  assert.ok(fs.existsSync(PARLEYD), `parleyd not found at ${PARLEYD} (set PARLEY_BIN_DIR)`);
  // A fixed secret: dev mode picks a random one per start otherwise, and the restart step
  // needs the pages' tokens to stay valid across the restart.
  const args = ['--dev', '--jwt-secret', 'browser-test-secret', '--listen', `127.0.0.1:${port}`,
    '--db', `sqlite:${path.join(tmpDir, 'parley.db')}`];
  const proc = spawn(PARLEYD, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  liveProcs.add(proc);
  proc.on('exit', () => liveProcs.delete(proc));
  let stderrTail = '';
  proc.stderr.on('data', (d) => {
    serverLog.write(d);
    stderrTail = (stderrTail + d.toString()).slice(-4000);
  });
  const listening = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(
      `parleyd did not print "parleyd listening on" within 20 s\nstdout: ${out}\nstderr: ${stderrTail}`)), 20_000);
    proc.stdout.on('data', (d) => {
      serverLog.write(d);
      out += d.toString();
      const m = out.match(/parleyd listening on ([0-9.]+):(\d+)/);
      if (m) { clearTimeout(timer); resolve({ host: m[1], port: Number(m[2]) }); }
    });
    proc.on('exit', (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`parleyd exited early (code ${code}, signal ${sig})\nstderr: ${stderrTail}`));
    });
    proc.on('error', (e) => { clearTimeout(timer); reject(e); });
  });
  proc.stdout.on('data', () => {}); // keep draining
  return { proc, port: listening.port, base: `http://127.0.0.1:${listening.port}` };
}

async function stopServer(s) {
  if (!s || s.proc.exitCode !== null || s.proc.signalCode !== null) return;
  const exited = once(s.proc, 'exit');
  s.proc.kill('SIGTERM');
  const t = setTimeout(() => s.proc.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(t);
}

// Same port and database again; retried briefly in case the port is still being released.
async function restartServer(port) {
  let lastErr;
  for (let i = 0; i < 20; i++) {
    try { return await startServer(port); } catch (e) { lastErr = e; }
    await sleep(250);
  }
  throw lastErr;
}

// ---------------------------------------------------------------------------------------------
// HTTP helpers (used to seed data, never to check the page).

async function http(method, urlPath, { token, body } = {}) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(server.base + urlPath, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, json, text };
}

async function devToken(user) {
  const r = await http('POST', '/api/dev/token', { body: { user } });
  assert.equal(r.status, 200, `POST /api/dev/token for ${user}: ${r.status} ${r.text}`);
  assert.equal(typeof r.json?.token, 'string', `dev token answer: ${r.text}`);
  return r.json.token;
}

// ---------------------------------------------------------------------------------------------
// Browser helpers.

let browser;
const pages = {}; // user -> page
const pageProblems = [];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Polls fn until it returns a truthy value; the failure message shows the last value seen.
async function eventually(what, fn, timeout = WAIT) {
  const t0 = Date.now();
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) {
        if (process.env.DEBUG_WAIT) console.log(`${Date.now() - t0} ms: ${what}`);
        return last;
      }
    } catch (e) { last = e.message; }
    if (Date.now() > end) {
      throw new Error(`timed out after ${timeout} ms waiting for: ${what}\nlast seen: ${
        typeof last === 'string' ? last : JSON.stringify(last)}`);
    }
    await sleep(100);
  }
}

async function openUser(user, viewport = { width: 1100, height: 720 }) {
  const ctx = await browser.newContext({ viewport }); // fresh profile: no shared storage
  const page = await ctx.newPage();
  page.on('pageerror', (e) => pageProblems.push(`${user}: page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') serverLog.write(`[browser ${user}] ${m.text()}\n`);
  });
  await page.goto(server.base + '/');
  pages[user] = page;
  return page;
}

async function loginByName(user) {
  const page = await openUser(user);
  await page.fill('#login-user', user);
  await page.click('#login-btn');
  await waitOnline(page, user);
  return page;
}

async function waitOnline(page, user) {
  await eventually(`${user}: connected (hello received)`, async () => {
    const err = await page.textContent('#login-error').catch(() => '');
    if (err) throw new Error(`login error shown: ${err}`);
    return (await page.getAttribute('#conn-status', 'data-state')) === 'online';
  });
  assert.equal(await page.textContent('#me'), user);
}

// Stored (acknowledged) messages of the open room: [{seq, from, text}] in page order.
const storedMessages = (page) => page.$$eval('#message-list .message[data-seq]', (els) =>
  els.map((e) => ({ seq: Number(e.dataset.seq), from: e.dataset.from,
    text: e.querySelector('.text').textContent })));

async function waitForText(page, who, text) {
  return eventually(`${who}: message "${text}" shown`, async () => {
    const ms = await storedMessages(page);
    return ms.some((m) => m.text === text) && ms;
  });
}

async function send(page, text) {
  await page.fill('#composer', text);
  await page.click('#send-btn');
}

async function openFromList(page, roomId) {
  await page.click(`#room-list .room-item[data-room-id="${roomId}"] button`);
  await eventually(`room ${roomId} open`, async () =>
    (await page.getAttribute('#room-list .room-item.active', 'data-room-id')) === roomId);
}

function assertOnceInOrder(ms, who) {
  const seqs = ms.map((m) => m.seq);
  assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), `${who}: messages not in seq order: ${seqs}`);
  assert.equal(new Set(seqs).size, seqs.length, `${who}: a seq is shown twice: ${seqs}`);
}

async function shot(user, name) {
  if (!pages[user]) return;
  await pages[user].screenshot({ path: path.join(ARTIFACTS, name) }).catch(() => {});
}

// ---------------------------------------------------------------------------------------------
// Steps.

let broken = false;
function step(name, fn) {
  test(name, { timeout: STEP_TIMEOUT }, async (t) => {
    if (broken) { t.skip('an earlier step failed'); return; }
    try { await fn(t); } catch (e) { broken = true; throw e; }
  });
}

before(async () => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-browser-'));
  serverLog = fs.createWriteStream(path.join(ARTIFACTS, 'browser-parleyd.log'));
  server = await startServer(0);
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROME_ARGS });
}, { timeout: 60_000 });

after(async () => {
  for (const user of Object.keys(pages)) await shot(user, `final-${user}.png`);
  if (browser) await browser.close().catch(() => {});
  await stopServer(server);
  serverLog?.end();
  if (tmpDir) fs.rmSync(tmpDir, { recursive: true, force: true });
  if (pageProblems.length) console.log(`page problems:\n${pageProblems.join('\n')}`);
}, { timeout: 30_000 });

const DM = 'dm:alice:bob';
const HELLO = 'hello bob 👋';
const REPLY = 'hi alice, got it';
const SECOND = 'second from alice';

step('serves the page and the static files', async () => {
  for (const p of ['/', '/app.js', '/style.css']) {
    const r = await fetch(server.base + p);
    assert.equal(r.status, 200, `GET ${p}`);
  }
});

step('alice and bob log in by user name', async () => {
  await loginByName('alice');
  await loginByName('bob');
});

step('alice opens a DM with bob and sends; pending until ack', async () => {
  const a = pages.alice;
  await a.fill('#dm-user', 'bob');
  await a.click('#dm-open');
  await eventually('alice: DM title is bob', async () => (await a.textContent('#room-title')) === 'bob');
  await eventually('alice: DM joined', async () =>
    /no messages yet/i.test(await a.textContent('#history-status')));
  await send(a, HELLO);
  const ms = await waitForText(a, 'alice', HELLO);
  assert.deepEqual(ms.map((m) => [m.seq, m.from, m.text]), [[1, 'alice', HELLO]]);
  await eventually('alice: no pending message left', async () =>
    (await a.$$('#message-list .message.pending')).length === 0);
  assert.equal(await a.inputValue('#composer'), '');
});

step('bob gets the DM in his room list with an unread badge (notify)', async () => {
  const b = pages.bob;
  const badge = `#room-list .room-item[data-room-id="${DM}"] .unread`;
  await eventually('bob: DM in room list with unread 1', async () =>
    (await b.$(badge)) && (await b.textContent(badge)) === '1');
  await openFromList(b, DM);
  const ms = await waitForText(b, 'bob', HELLO);
  assert.deepEqual(ms.map((m) => [m.seq, m.from, m.text]), [[1, 'alice', HELLO]]);
  assert.equal(await b.textContent('#room-title'), 'alice');
  await eventually('bob: unread badge cleared', async () => !(await b.$(badge)));
});

step('bob replies and alice sees it live; alice sends again and bob sees it live', async () => {
  const a = pages.alice;
  const b = pages.bob;
  await send(b, REPLY);
  await waitForText(a, 'alice', REPLY);
  await send(a, SECOND);
  await waitForText(b, 'bob', SECOND);
  const expected = [[1, 'alice', HELLO], [2, 'bob', REPLY], [3, 'alice', SECOND]];
  for (const [who, page] of [['alice', a], ['bob', b]]) {
    const ms = await eventually(`${who}: three messages`, async () => {
      const m = await storedMessages(page);
      return m.length >= 3 && m;
    });
    await sleep(300); // give a duplicate the chance to show up
    const again = await storedMessages(page);
    assertOnceInOrder(again, who);
    assert.deepEqual(again.map((m) => [m.seq, m.from, m.text]), expected,
      `${who} sees each message exactly once (had ${JSON.stringify(ms)})`);
  }
});

step('typing indicator reaches the other side', async () => {
  const a = pages.alice;
  const b = pages.bob;
  await a.click('#composer');
  await a.keyboard.type('I am typ', { delay: 30 });
  await eventually('bob: "alice is typing"', async () =>
    /alice is typing/.test(await b.textContent('#typing')));
  await a.fill('#composer', '');
});

step('read markers: alice sees "Seen by bob"', async () => {
  const a = pages.alice;
  await eventually('alice: "Seen by bob" on the newest message', async () => {
    const seen = await a.$$eval('#message-list .message[data-seq] .seen', (els) =>
      els.map((e) => [Number(e.closest('.message').dataset.seq), e.textContent]));
    if (!seen.some(([seq, t]) => seq === 3 && /Seen by bob/.test(t))) throw new Error(JSON.stringify(seen));
    return true;
  });
  await shot('alice', 'chat-alice.png');
  await shot('bob', 'chat-bob.png');
});

let groupId;
step('alice creates a group with bob in the page; both chat in it', async () => {
  const a = pages.alice;
  const b = pages.bob;
  await a.click('#group-panel summary');
  await a.fill('#group-name', 'Team');
  await a.fill('#group-members', 'bob');
  await a.click('#group-create');
  await eventually('alice: group opened', async () => (await a.textContent('#room-title')) === 'Team');
  groupId = await a.getAttribute('#room-list .room-item.active', 'data-room-id');
  assert.match(groupId, /^g:[A-Za-z0-9_-]{1,64}$/);
  await eventually('alice: members shown', async () =>
    /alice/.test(await a.textContent('#room-members')) && /bob/.test(await a.textContent('#room-members')));

  const item = `#room-list .room-item[data-room-id="${groupId}"]`;
  await eventually('bob: group appears in his room list (notify added)', async () => !!(await b.$(item)));

  await send(a, 'welcome to the team');
  await waitForText(a, 'alice', 'welcome to the team');
  await eventually('bob: unread 1 on the group', async () =>
    (await b.$(`${item} .unread`)) && (await b.textContent(`${item} .unread`)) === '1');
  await openFromList(b, groupId);
  await waitForText(b, 'bob', 'welcome to the team');
  await send(b, 'thanks!');
  await waitForText(a, 'alice', 'thanks!');
  await sleep(300);
  for (const [who, page] of [['alice', a], ['bob', b]]) {
    const ms = await storedMessages(page);
    assertOnceInOrder(ms, who);
    assert.deepEqual(ms.map((m) => [m.seq, m.from, m.text]),
      [[1, 'alice', 'welcome to the team'], [2, 'bob', 'thanks!']], `${who} in the group`);
  }
  await shot('bob', 'chat-group-bob.png');
});

step('alice adds carol to the group', async () => {
  const a = pages.alice;
  await a.fill('#add-member-user', 'carol');
  await a.click('#add-member-btn');
  await eventually('alice: carol listed as member', async () =>
    /carol/.test(await a.textContent('#room-members')));
});

step('scroll-back: carol loads older history pages', async () => {
  // Seed over HTTP: dave creates "Archive" with carol and posts 75 messages.
  const dave = await devToken('dave');
  const created = await http('POST', '/api/rooms', { token: dave, body: { name: 'Archive', members: ['carol'] } });
  assert.equal(created.status, 201, `create room: ${created.text}`);
  const id = created.json.id;
  for (let i = 1; i <= 75; i++) {
    const r = await http('POST', `/api/rooms/${id}/messages`,
      { token: dave, body: { text: `archived message ${i}`, cid: `seed-${i}` } });
    assert.equal(r.status, 201, `post ${i}: ${r.text}`);
    assert.equal(r.json.seq, i, `seq of post ${i}`);
  }
  const c = await loginByName('carol');
  const item = `#room-list .room-item[data-room-id="${id}"]`;
  await eventually('carol: Archive listed with 75 unread', async () =>
    (await c.$(`${item} .unread`)) && (await c.textContent(`${item} .unread`)) === '75');
  await openFromList(c, id);
  const first = await eventually('carol: latest page shown', async () => {
    const ms = await storedMessages(c);
    return ms.length > 0 && ms.at(-1).seq === 75 && ms;
  });
  assert.equal(first.length, 50, 'a join without since shows the latest 50');
  assert.equal(first[0].seq, 26);
  // Scroll to the top until everything is loaded.
  const all = await eventually('carol: all 75 messages after scrolling up', async () => {
    await c.$eval('#messages', (e) => { e.scrollTop = 0; e.dispatchEvent(new Event('scroll')); });
    const ms = await storedMessages(c);
    return ms.length === 75 && ms;
  });
  assertOnceInOrder(all, 'carol');
  assert.deepEqual(all.map((m) => m.seq), Array.from({ length: 75 }, (_, i) => i + 1));
  assert.equal(all[0].text, 'archived message 1');
  await eventually('carol: beginning of conversation', async () =>
    /beginning/i.test(await c.textContent('#history-status')));
  await shot('carol', 'chat-history-carol.png');
});

step('login with a pasted token', async () => {
  const token = await devToken('dave');
  const d = await openUser('dave');
  await d.click('#token-toggle');
  await d.fill('#login-token', token);
  await d.click('#login-token-btn');
  await waitOnline(d, 'dave');
  await eventually('dave: Archive in his room list', async () =>
    /Archive/.test(await d.textContent('#room-list')));
});

step('server restart: pages reconnect, resume, and deliver a send made while offline', async () => {
  const a = pages.alice;
  const b = pages.bob;
  // Both look at the DM again.
  await openFromList(a, DM);
  await openFromList(b, DM);
  await waitForText(b, 'bob', SECOND);
  const port = server.port;
  await stopServer(server);
  for (const [who, page] of [['alice', a], ['bob', b]]) {
    await eventually(`${who}: shows offline`, async () =>
      (await page.getAttribute('#conn-status', 'data-state')) !== 'online');
  }
  await send(a, 'sent while offline');
  await eventually('alice: the offline send is pending', async () =>
    (await a.$$eval('#message-list .message.pending .text', (els) => els.map((e) => e.textContent)))
      .includes('sent while offline'));
  server = await restartServer(port);
  await waitOnline(a, 'alice');
  await waitOnline(b, 'bob');
  await waitForText(a, 'alice', 'sent while offline');
  await waitForText(b, 'bob', 'sent while offline');
  await send(b, 'back online');
  await waitForText(a, 'alice', 'back online');
  await sleep(300);
  const expected = [HELLO, REPLY, SECOND, 'sent while offline', 'back online'];
  for (const [who, page] of [['alice', a], ['bob', b]]) {
    const ms = await storedMessages(page);
    assertOnceInOrder(ms, who);
    assert.deepEqual(ms.map((m) => m.text), expected, `${who} after the restart`);
    assert.deepEqual(ms.map((m) => m.seq), [1, 2, 3, 4, 5]);
    assert.equal((await page.$$('#message-list .message.pending')).length, 0, `${who}: nothing pending`);
  }
});

step('narrow screen layout', async () => {
  const b = pages.bob;
  await b.setViewportSize({ width: 390, height: 760 });
  await shot('bob', 'chat-bob-mobile.png');
  assert.equal(await b.isVisible('#composer'), true);
  assert.equal(await b.isVisible('#room-list'), false, 'one pane at a time on narrow screens');
  await b.setViewportSize({ width: 1100, height: 720 });
});

step('no uncaught errors in the pages', async () => {
  assert.deepEqual(pageProblems, []);
});
