// Parley web chat client. Plain browser JavaScript, no build step, no dependencies.
//
// The only contract with the server is docs "protocol.md" (version 1):
//   - HTTP: /api/dev/token (dev mode), /api/rooms, /api/rooms/{id}, /api/rooms/{id}/members.
//   - One WebSocket for everything: /ws?token=J, then `join` frames per opened room.
// Client model, per room: messages keyed by seq (dedupe, order by seq), pending sends keyed by
// cid (shown until their `ack`), last_seq/read_seq for unread badges, readers for "seen by".
// After any close the client reconnects with backoff and resumes every opened room with
// `join` + `since` = the highest seq it holds; unacknowledged sends are repeated with the same
// cid, which the server stores once.
'use strict';

(() => {
  // ---------------------------------------------------------------------------------------------
  // Constants and small helpers.

  const USER_RE = /^[A-Za-z0-9_.@-]{1,128}$/;
  const MAX_TEXT_BYTES = 16 * 1024;
  const PAGE_SIZE = 50;
  const TYPING_SEND_EVERY_MS = 3000; // throttle for our own `typing` frames
  const TYPING_SHOW_MS = 6000;       // how long "X is typing" stays without a new frame
  const KEEPALIVE_MS = 25000;        // the server closes after 75 s without a client frame
  const BACKOFF_BASE_MS = 500;
  const BACKOFF_MAX_MS = 30000;
  const STORAGE_KEY = 'parley.session';

  const $ = (id) => document.getElementById(id);
  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const utf8Len = (s) => new TextEncoder().encode(s).length;

  function newCid() {
    if (window.crypto && typeof crypto.randomUUID === 'function') return crypto.randomUUID();
    return Date.now().toString(36) + '-' + Math.random().toString(36).slice(2, 12);
  }

  // Room ids go into URL paths. Group ids are [A-Za-z0-9_-] after "g:"; keep ':' readable.
  const roomPath = (id) => encodeURIComponent(id).replace(/%3A/gi, ':');

  // Direct room id: both user ids in byte order (ASCII ids: JS string order is byte order).
  function dmRoomId(a, b) {
    return a <= b ? `dm:${a}:${b}` : `dm:${b}:${a}`;
  }

  function decodeJwt(token) {
    try {
      const part = token.split('.')[1];
      const b64 = part.replace(/-/g, '+').replace(/_/g, '/');
      const json = decodeURIComponent(Array.from(atob(b64 + '==='.slice((b64.length + 3) % 4)),
        (c) => '%' + c.charCodeAt(0).toString(16).padStart(2, '0')).join(''));
      return JSON.parse(json);
    } catch {
      return null;
    }
  }

  function fmtTime(ms) {
    const d = new Date(ms);
    const now = new Date();
    const hm = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    if (d.toDateString() === now.toDateString()) return hm;
    return d.toLocaleDateString([], { month: 'short', day: 'numeric' }) + ' ' + hm;
  }

  // ---------------------------------------------------------------------------------------------
  // State.

  const S = {
    token: null,
    tokenExp: 0,          // ms; 0 when unknown
    devMode: false,       // token came from /api/dev/token (so we can refresh it)
    user: null,           // our user id (from the token, confirmed by `hello`)
    ws: null,
    ready: false,         // `hello` received on the current socket
    attempt: 0,           // reconnect attempts since the last `hello`
    reconnectTimer: 0,
    keepaliveTimer: 0,
    refreshTimer: 0,
    lastSentAt: 0,
    rooms: new Map(),     // id -> room
    current: null,        // the open room
    requests: new Map(),  // rid -> {kind, room}
    ridSeq: 0,
    lastTypingSent: 0,
    activitySeq: 0,
  };

  function makeRoom(id, name) {
    return {
      id,
      name: name || null,
      isDm: id.startsWith('dm:'),
      last_seq: 0,
      read_seq: 0,
      members: null,
      msgs: new Map(),    // seq -> message
      pending: new Map(), // cid -> {cid, text, ts, failed}
      minSeq: 0,          // lowest seq held (0: none)
      maxSeq: 0,          // highest seq held
      more: false,        // older messages exist on the server
      loadingOlder: false,
      wantJoined: false,  // opened in this session: (re)join on every connection
      joined: false,      // the current socket answered our join
      joinInFlight: false,
      replayTimer: 0,
      typing: new Map(),  // user -> timer
      readers: new Map(), // user -> seq
      sentRead: 0,
      activity: 0,        // sort key for the room list
    };
  }

  function ensureRoom(id, name) {
    let r = S.rooms.get(id);
    if (!r) {
      r = makeRoom(id, name);
      r.activity = ++S.activitySeq;
      S.rooms.set(id, r);
    } else if (name && !r.name) {
      r.name = name;
    }
    return r;
  }

  function roomLabel(r) {
    if (r.isDm) {
      const [, a, b] = r.id.split(':');
      if (a === b) return 'Notes to self';
      return a === S.user ? b : a;
    }
    return r.name || r.id;
  }

  const unread = (r) => Math.max(0, r.last_seq - r.read_seq);

  // ---------------------------------------------------------------------------------------------
  // Toasts (errors and notices).

  function toast(text, kind = 'error', ms = 6000) {
    const t = el('div', `toast ${kind}`, text);
    t.setAttribute('data-testid', kind === 'error' ? 'error-toast' : 'info-toast');
    t.setAttribute('role', kind === 'error' ? 'alert' : 'status');
    t.addEventListener('click', () => t.remove());
    $('toasts').appendChild(t);
    setTimeout(() => t.remove(), ms);
  }

  // ---------------------------------------------------------------------------------------------
  // HTTP API.

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message || code || `HTTP ${status}`);
      this.status = status;
      this.code = code;
    }
  }

  async function api(method, path, body) {
    const headers = { Authorization: `Bearer ${S.token}` };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const res = await fetch(path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    try { data = await res.json(); } catch { /* empty or non-JSON body */ }
    if (res.status === 401) {
      sessionExpired((data && data.message) || 'Your session is no longer valid.');
      throw new ApiError(401, 'unauthorized', data && data.message);
    }
    if (!res.ok) throw new ApiError(res.status, data && data.error, data && data.message);
    return data;
  }

  async function refreshRooms() {
    let list;
    try {
      list = await api('GET', '/api/rooms');
    } catch (e) {
      if (e.status !== 401) toast(`Could not load rooms: ${e.message}`);
      return false;
    }
    if (!Array.isArray(list)) return false;
    const seen = new Set();
    // Server order is kept for rooms we know nothing newer about.
    list.forEach((it, i) => {
      if (!it || typeof it.id !== 'string') return;
      seen.add(it.id);
      const fresh = !S.rooms.has(it.id);
      const r = ensureRoom(it.id, it.name);
      if (it.name) r.name = it.name;
      r.last_seq = Math.max(r.last_seq, it.last_seq | 0);
      r.read_seq = Math.max(r.read_seq, it.read_seq | 0);
      if (fresh) r.activity = -i - 1;
    });
    // A group we no longer see was left or removed while we were away.
    for (const r of [...S.rooms.values()]) {
      if (!r.isDm && !seen.has(r.id) && !(r.createdAt > Date.now() - 10000)) dropRoom(r.id, null);
    }
    renderRoomList();
    return true;
  }

  // ---------------------------------------------------------------------------------------------
  // Session: login, expiry, logout.

  function saveSession() {
    try {
      sessionStorage.setItem(STORAGE_KEY, JSON.stringify(
        { token: S.token, devMode: S.devMode, user: S.user }));
    } catch { /* storage disabled */ }
  }

  function showLogin(notice, error) {
    $('app-view').hidden = true;
    $('login-view').hidden = false;
    $('login-notice').hidden = !notice;
    $('login-notice').textContent = notice || '';
    $('login-error').textContent = error || '';
    if (S.user) $('login-user').value = S.user;
    $('login-user').focus();
  }

  function showTokenField(hint) {
    $('login-token-group').hidden = false;
    $('token-toggle').hidden = true;
    if (hint) $('login-hint').textContent = hint;
    $('login-token').focus();
  }

  async function loginWithName(name) {
    name = name.trim();
    $('login-error').textContent = '';
    if (!USER_RE.test(name)) {
      $('login-error').textContent = 'User names are 1-128 letters, digits or _ - . @';
      return;
    }
    $('login-btn').disabled = true;
    try {
      const res = await fetch('/api/dev/token', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ user: name }),
      });
      if (res.status === 404) {
        showTokenField('This server is not in dev mode: paste an access token.');
        $('login-user-group').hidden = true;
        return;
      }
      let data = null;
      try { data = await res.json(); } catch { /* ignore */ }
      if (!res.ok || !data || typeof data.token !== 'string') {
        $('login-error').textContent =
          (data && (data.message || data.error)) || `Login failed (HTTP ${res.status}).`;
        return;
      }
      await startSession(data.token, true);
    } catch (e) {
      $('login-error').textContent = `Cannot reach the server: ${e.message}`;
    } finally {
      $('login-btn').disabled = false;
    }
  }

  async function loginWithToken(token) {
    token = token.trim();
    $('login-error').textContent = '';
    const claims = decodeJwt(token);
    if (!claims) {
      $('login-error').textContent = 'That does not look like a JWT.';
      return;
    }
    if (typeof claims.exp === 'number' && claims.exp * 1000 < Date.now()) {
      $('login-error').textContent = 'That token has expired.';
      return;
    }
    await startSession(token, false);
  }

  async function startSession(token, devMode) {
    const claims = decodeJwt(token) || {};
    const sub = claims.sub === undefined || claims.sub === null ? null : String(claims.sub);
    if (S.user && sub && sub !== S.user) resetState(); // a different user: start clean
    S.token = token;
    S.devMode = devMode;
    S.tokenExp = typeof claims.exp === 'number' ? claims.exp * 1000 : 0;
    if (sub) S.user = sub;
    // Validate the token once over HTTP: a refused token gives a readable reason here,
    // whereas a refused WebSocket upgrade is invisible to scripts.
    const ok = await refreshRooms();
    if (!ok && !S.token) return; // sessionExpired() already went back to the login screen
    saveSession();
    $('login-view').hidden = true;
    $('app-view').hidden = false;
    $('me').textContent = S.user || '';
    scheduleTokenRefresh();
    connect();
  }

  function resetState() {
    closeSocket();
    for (const r of S.rooms.values()) clearRoomTimers(r);
    S.rooms.clear();
    S.current = null;
    S.requests.clear();
    $('message-list').replaceChildren();
    $('chat-room').hidden = true;
    $('chat-empty').hidden = false;
    renderRoomList();
  }

  function sessionExpired(reason) {
    if (!S.token) return;
    S.token = null;
    closeSocket();
    clearTimeout(S.refreshTimer);
    try { sessionStorage.removeItem(STORAGE_KEY); } catch { /* ignore */ }
    setConn('offline', 'Signed out');
    // Room state is kept: logging back in as the same user resumes where we left off.
    let why = (reason || 'Your session has expired').trim();
    why = why.charAt(0).toUpperCase() + why.slice(1);
    if (!/[.!?]$/.test(why)) why += '.';
    showLogin(`${why} Please log in again.`);
  }

  function logout() {
    S.token = null;
    resetState();
    S.user = null;
    clearTimeout(S.refreshTimer);
    try { sessionStorage.removeItem(STORAGE_KEY); } catch { /* ignore */ }
    $('login-user').value = '';
    showLogin(null);
  }

  // Dev tokens are valid one hour: refresh a minute before expiry with an `auth` frame.
  function scheduleTokenRefresh() {
    clearTimeout(S.refreshTimer);
    if (!S.devMode || !S.tokenExp) return;
    const delay = Math.max(5000, S.tokenExp - Date.now() - 60000);
    S.refreshTimer = setTimeout(async () => {
      try {
        const res = await fetch('/api/dev/token', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ user: S.user }),
        });
        if (!res.ok) return;
        const { token } = await res.json();
        if (typeof token !== 'string') return;
        S.token = token;
        const c = decodeJwt(token) || {};
        S.tokenExp = typeof c.exp === 'number' ? c.exp * 1000 : 0;
        saveSession();
        send({ type: 'auth', token, rid: rid('auth', null) });
        scheduleTokenRefresh();
      } catch { /* the server will close with 4001 and we ask the user */ }
    }, delay);
  }

  // ---------------------------------------------------------------------------------------------
  // WebSocket.

  function setConn(state, text) {
    const c = $('conn-status');
    c.dataset.state = state;
    c.textContent = text;
  }

  function rid(kind, room) {
    const id = `${kind}:${++S.ridSeq}`;
    S.requests.set(id, { kind, room });
    return id;
  }

  function send(frame) {
    if (!S.ws || S.ws.readyState !== WebSocket.OPEN || !S.ready) return false;
    S.ws.send(JSON.stringify(frame));
    S.lastSentAt = Date.now();
    return true;
  }

  function closeSocket() {
    clearTimeout(S.reconnectTimer);
    clearInterval(S.keepaliveTimer);
    const ws = S.ws;
    S.ws = null;
    S.ready = false;
    for (const r of S.rooms.values()) { r.joined = false; r.joinInFlight = false; }
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      try { ws.close(1000); } catch { /* ignore */ }
    }
  }

  function connect() {
    if (!S.token) return;
    closeSocket();
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(`${proto}//${location.host}/ws?token=${encodeURIComponent(S.token)}`);
    S.ws = ws;
    setConn('connecting', S.attempt ? 'Reconnecting…' : 'Connecting…');
    ws.onmessage = (ev) => {
      if (S.ws !== ws) return;
      let f;
      try { f = JSON.parse(ev.data); } catch { return; }
      if (f && typeof f === 'object') handleFrame(f);
    };
    ws.onclose = (ev) => {
      if (S.ws !== ws) return;
      const hadHello = S.ready;
      S.ws = null;
      S.ready = false;
      clearInterval(S.keepaliveTimer);
      for (const r of S.rooms.values()) {
        r.joined = false;
        r.joinInFlight = false;
        for (const u of [...r.typing.keys()]) stopTyping(r, u);
      }
      if (ev.code === 4001) {
        sessionExpired(ev.reason || 'Your session has expired.');
        return;
      }
      if (!hadHello) S.attempt++;
      scheduleReconnect(ev.code, hadHello);
    };
  }

  function scheduleReconnect(code, hadHello) {
    if (!S.token) return;
    clearTimeout(S.reconnectTimer);
    // 1001: the server is shutting down; another node (or the restarted one) can take us now.
    const n = code === 1001 && hadHello ? 0 : S.attempt;
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** n);
    const delay = Math.round(base * (0.5 + Math.random() / 2));
    let left = Math.ceil(delay / 1000);
    setConn('offline', `Offline · retrying in ${left}s`);
    const tick = setInterval(() => {
      left -= 1;
      if (left > 0 && !S.ws) setConn('offline', `Offline · retrying in ${left}s`);
      else clearInterval(tick);
    }, 1000);
    S.reconnectTimer = setTimeout(async () => {
      clearInterval(tick);
      if (!S.token) return;
      // A refused upgrade looks like any network error; after a few, ask HTTP whether the
      // token is still accepted (a 401 there ends the session with a clear message).
      if (S.attempt >= 2) {
        try { await api('GET', '/api/rooms'); } catch { if (!S.token) return; }
      }
      connect();
    }, delay);
  }

  function onHello(f) {
    S.ready = true;
    S.attempt = 0;
    if (f.user) {
      S.user = String(f.user);
      $('me').textContent = S.user;
      saveSession();
    }
    setConn('online', 'Online');
    clearInterval(S.keepaliveTimer);
    S.keepaliveTimer = setInterval(() => {
      if (Date.now() - S.lastSentAt >= KEEPALIVE_MS) send({ type: 'ping' });
    }, 5000);
    // Resume every room opened in this session, then repeat unacknowledged sends (same cid:
    // the server stores a repeat once and answers with the original ack).
    for (const r of S.rooms.values()) if (r.wantJoined) joinRoom(r);
    for (const r of S.rooms.values()) {
      for (const p of r.pending.values()) if (!p.failed) transmit(r, p);
    }
    refreshRooms(); // rooms created or messages missed while we were away
    if (S.current) renderRoomHeader(S.current);
  }

  function joinRoom(r, since) {
    if (since === undefined && r.maxSeq > 0) since = r.maxSeq;
    const kind = since === undefined ? 'join' : 'resume';
    const frame = { type: 'join', room: r.id, rid: rid(kind, r.id) };
    if (since !== undefined) frame.since = since;
    r.joinKind = kind;
    if (send(frame)) r.joinInFlight = true;
  }

  function handleFrame(f) {
    switch (f.type) {
      case 'hello': return onHello(f);
      case 'joined': return onJoined(f);
      case 'history': return onHistory(f);
      case 'message': return onMessage(f);
      case 'ack': return onAck(f);
      case 'typing': return onTyping(f);
      case 'read': return onRead(f);
      case 'notify': return onNotify(f);
      case 'left': return onLeft(f);
      case 'error': return onError(f);
      case 'auth_ok':
        if (typeof f.exp === 'number') S.tokenExp = f.exp;
        return undefined;
      case 'pong': return undefined;
      default: return undefined; // unknown server frames are ignored (forward compatible)
    }
  }

  function takeRequest(f) {
    if (typeof f.rid !== 'string') return null;
    const req = S.requests.get(f.rid) || null;
    // `joined` and `history` share the join's rid; keep it until the history arrives.
    if (req && f.type !== 'joined') S.requests.delete(f.rid);
    return req;
  }

  function onJoined(f) {
    const r = S.rooms.get(f.room);
    takeRequest(f);
    if (!r) return;
    r.joined = true;
    r.last_seq = Math.max(r.last_seq, f.last_seq | 0);
    r.read_seq = Math.max(r.read_seq, f.read_seq | 0);
    renderRoomList();
  }

  function onHistory(f) {
    const r = S.rooms.get(f.room);
    const req = takeRequest(f);
    if (!r || !Array.isArray(f.messages)) return;
    // Which request is this? By rid when the server echoed it, else by what we have in flight.
    let kind = req ? req.kind : null;
    if (!kind) kind = r.joinInFlight ? r.joinKind : 'page';
    const box = $('messages');
    const isCurrent = S.current === r;
    const atBottom = isCurrent && nearBottom(box);
    const prevHeight = box.scrollHeight;
    const prevTop = box.scrollTop;
    let addedOlder = false;
    for (const m of f.messages) {
      if (!m || typeof m.seq !== 'number') continue;
      const before = r.minSeq;
      if (addMessage(r, { ...m, room: r.id }, false) && before && m.seq < before) addedOlder = true;
    }
    if (kind === 'page') {
      r.more = !!f.more;
      r.loadingOlder = false;
    } else if (kind === 'join') {
      r.more = !!f.more;
      r.joinInFlight = false;
    } else { // resume: `more: true` on the last frame means "not subscribed, join again"
      clearTimeout(r.replayTimer);
      if (f.more) {
        // Wait briefly in case further frames of the same replay are on their way.
        r.replayTimer = setTimeout(() => joinRoom(r, r.maxSeq), 250);
      } else {
        r.joinInFlight = false;
      }
      if (r.minSeq === 0) r.more = false;
    }
    if (isCurrent) {
      if (kind === 'page' || addedOlder) {
        box.scrollTop = prevTop + (box.scrollHeight - prevHeight);
      } else if (atBottom || kind === 'join') {
        scrollToBottom();
      }
      renderHistoryStatus(r);
      renderSeen(r);
      maybeLoadOlder(r);
      markRead(r);
    }
    renderRoomList();
  }

  function onMessage(f) {
    if (typeof f.room !== 'string' || typeof f.seq !== 'number') return;
    let r = S.rooms.get(f.room);
    if (!r) { r = ensureRoom(f.room); refreshRooms(); }
    // A gap in live messages should never happen; if it does, resume from what we hold.
    const gap = r.joined && !r.joinInFlight && r.maxSeq > 0 && f.seq > r.maxSeq + 1;
    const prevMax = r.maxSeq;
    const box = $('messages');
    const atBottom = S.current === r && nearBottom(box);
    if (!addMessage(r, f, true)) return;
    if (gap) joinRoom(r, prevMax);
    if (S.current === r) {
      if (atBottom || f.from === S.user) scrollToBottom();
      markRead(r);
    }
    renderRoomList();
  }

  function onAck(f) {
    const r = S.rooms.get(f.room);
    if (!r || f.cid === null || f.cid === undefined) return;
    const p = r.pending.get(f.cid);
    if (!p) return;
    // The ack precedes our own `message` copy; show the stored message now (the copy that
    // follows is then a duplicate by seq and dropped).
    addMessage(r, {
      room: r.id, seq: f.seq, id: f.id, from: S.user, text: p.text, ts: f.ts, cid: f.cid,
    }, true);
    if (S.current === r) { scrollToBottom(); markRead(r); }
    renderRoomList();
  }

  function onTyping(f) {
    const r = S.rooms.get(f.room);
    if (!r || !f.user || f.user === S.user) return;
    clearTimeout(r.typing.get(f.user));
    r.typing.set(f.user, setTimeout(() => stopTyping(r, f.user), TYPING_SHOW_MS));
    if (S.current === r) renderTyping(r);
  }

  function stopTyping(r, user) {
    if (!r.typing.has(user)) return;
    clearTimeout(r.typing.get(user));
    r.typing.delete(user);
    if (S.current === r) renderTyping(r);
  }

  function onRead(f) {
    const r = S.rooms.get(f.room);
    if (!r || !f.user || typeof f.seq !== 'number') return;
    if (f.user === S.user) { // another device of ours read the room
      r.read_seq = Math.max(r.read_seq, f.seq);
      r.sentRead = Math.max(r.sentRead, f.seq);
      renderRoomList();
      return;
    }
    r.readers.set(f.user, Math.max(r.readers.get(f.user) || 0, f.seq));
    if (S.current === r) renderSeen(r);
  }

  function onNotify(f) {
    if (typeof f.room !== 'string') return;
    if (f.event === 'removed') { dropRoom(f.room, 'removed'); return; }
    const known = S.rooms.has(f.room);
    const r = ensureRoom(f.room);
    r.activity = ++S.activitySeq;
    if (f.event === 'message' && typeof f.seq === 'number') {
      if (!known) r.read_seq = Math.max(0, f.seq - 1); // until the room list says better
      r.last_seq = Math.max(r.last_seq, f.seq);
      if (f.from === S.user && r.read_seq === f.seq - 1) r.read_seq = f.seq; // our own send
    }
    if (f.event === 'added') {
      refreshRooms().then(() => toast(`You were added to ${roomLabel(r)}`, 'info', 4000));
    } else if (!known) {
      refreshRooms();
    }
    renderRoomList();
  }

  function onLeft(f) {
    takeRequest(f);
    if (typeof f.room === 'string') dropRoom(f.room, f.reason || 'removed');
  }

  function onError(f) {
    const req = takeRequest(f);
    const code = f.code || 'error';
    const msg = f.message ? `${code}: ${f.message}` : code;
    // A failed send: `ref` echoes its cid.
    for (const r of S.rooms.values()) {
      const p = typeof f.ref === 'string' ? r.pending.get(f.ref) : null;
      if (p) {
        p.failed = code;
        renderPending(r, p);
      }
    }
    if (req && req.room) {
      const r = S.rooms.get(req.room);
      if (r && (req.kind === 'join' || req.kind === 'resume')) r.joinInFlight = false;
      if (r && req.kind === 'page') r.loadingOlder = false;
      if (r && code === 'not_member' && (req.kind === 'join' || req.kind === 'resume')) {
        r.wantJoined = false;
      }
    }
    // token_expired/unauthorized: a 4001 close follows and handles it.
    if (code !== 'token_expired') toast(msg);
  }

  function dropRoom(id, reason) {
    const r = S.rooms.get(id);
    if (!r) return;
    clearRoomTimers(r);
    S.rooms.delete(id);
    if (reason) toast(`You were removed from ${roomLabel(r)}`, 'info', 4000);
    if (S.current === r) closeRoomView();
    renderRoomList();
  }

  function clearRoomTimers(r) {
    clearTimeout(r.replayTimer);
    for (const t of r.typing.values()) clearTimeout(t);
    r.typing.clear();
  }

  // ---------------------------------------------------------------------------------------------
  // Messages.

  // Adds a stored message; returns false for a duplicate (same room and seq).
  function addMessage(r, m, live) {
    if (r.msgs.has(m.seq)) return false;
    const msg = {
      seq: m.seq, id: m.id, from: m.from === undefined ? null : String(m.from),
      text: typeof m.text === 'string' ? m.text : '', ts: m.ts || Date.now(), cid: m.cid ?? null,
    };
    r.msgs.set(msg.seq, msg);
    r.minSeq = r.minSeq ? Math.min(r.minSeq, msg.seq) : msg.seq;
    r.maxSeq = Math.max(r.maxSeq, msg.seq);
    r.last_seq = Math.max(r.last_seq, msg.seq);
    if (msg.from === S.user && r.read_seq === msg.seq - 1) r.read_seq = msg.seq;
    if (live) r.activity = ++S.activitySeq;
    if (msg.seq === r.maxSeq && msg.from) stopTyping(r, msg.from);
    // Our own send is now stored: its pending bubble gives way to the real one.
    if (msg.cid !== null && msg.from === S.user && r.pending.has(msg.cid)) {
      r.pending.delete(msg.cid);
      if (S.current === r) {
        const pe = $('message-list').querySelector(`.message.pending[data-cid="${CSS.escape(msg.cid)}"]`);
        if (pe) pe.remove();
      }
    }
    if (S.current === r) {
      insertMessageEl(r, msg);
      if (msg.seq === r.maxSeq) renderHistoryStatus(r);
    }
    return true;
  }

  function messageEl(msg, pending) {
    const li = el('li', 'message');
    li.setAttribute('data-testid', 'message');
    const mine = msg.from === S.user;
    if (mine) li.classList.add('mine');
    if (pending) {
      li.classList.add('pending');
      li.dataset.cid = msg.cid;
    } else {
      li.dataset.seq = String(msg.seq);
      if (msg.cid !== null) li.dataset.cid = msg.cid;
    }
    li.dataset.from = msg.from || '';
    const meta = el('div', 'meta');
    meta.appendChild(el('span', 'from', mine ? 'You' : (msg.from || '?')));
    const time = el('time', 'time', fmtTime(msg.ts));
    time.dateTime = new Date(msg.ts).toISOString();
    meta.appendChild(time);
    li.appendChild(meta);
    const bubble = el('div', 'bubble');
    const text = el('span', 'text', msg.text);
    text.setAttribute('data-testid', 'message-text');
    bubble.appendChild(text);
    li.appendChild(bubble);
    const status = el('div', 'status');
    status.setAttribute('data-testid', 'message-status');
    li.appendChild(status);
    return li;
  }

  // Stored messages in seq order, then pending sends in the order they were written.
  function insertMessageEl(r, msg) {
    const list = $('message-list');
    const li = messageEl(msg, false);
    let next = null;
    for (let c = list.lastElementChild; c; c = c.previousElementSibling) {
      if (c.classList.contains('pending')) { next = c; continue; }
      if (Number(c.dataset.seq) > msg.seq) { next = c; continue; }
      break;
    }
    list.insertBefore(li, next);
    regroup(li.previousElementSibling, li, li.nextElementSibling);
  }

  // Consecutive messages from one sender within 5 minutes share one header.
  function regroup(...els) {
    for (const e of els) {
      if (!e) continue;
      const prev = e.previousElementSibling;
      const same = prev && prev.dataset.from === e.dataset.from &&
        Math.abs(msgTs(e) - msgTs(prev)) < 5 * 60 * 1000;
      e.classList.toggle('cont', !!same);
    }
  }
  const msgTs = (e) => Date.parse(e.querySelector('time').dateTime) || 0;

  function renderPending(r, p) {
    if (S.current !== r) return;
    const list = $('message-list');
    let li = list.querySelector(`.message.pending[data-cid="${CSS.escape(p.cid)}"]`);
    if (!li) {
      li = messageEl({ cid: p.cid, from: S.user, text: p.text, ts: p.ts }, true);
      list.appendChild(li);
      regroup(li);
    }
    li.classList.toggle('failed', !!p.failed);
    const st = li.querySelector('.status');
    st.replaceChildren();
    if (p.failed) {
      st.appendChild(el('span', null, `Not sent (${p.failed}). `));
      const retry = el('button', 'link retry', 'Retry');
      retry.type = 'button';
      retry.addEventListener('click', () => { p.failed = false; renderPending(r, p); transmit(r, p); });
      st.appendChild(retry);
    } else {
      st.textContent = 'Sending…';
    }
  }

  function renderAllMessages(r) {
    const list = $('message-list');
    list.replaceChildren();
    const seqs = [...r.msgs.keys()].sort((a, b) => a - b);
    const frag = document.createDocumentFragment();
    for (const s of seqs) frag.appendChild(messageEl(r.msgs.get(s), false));
    list.appendChild(frag);
    for (const p of r.pending.values()) renderPending(r, p);
    for (const c of list.children) regroup(c);
    renderSeen(r);
    renderHistoryStatus(r);
  }

  // "Seen by X" under the newest message each other member has read.
  function renderSeen(r) {
    if (S.current !== r) return;
    const list = $('message-list');
    for (const s of list.querySelectorAll('.seen')) s.remove();
    const stored = [...list.querySelectorAll('.message[data-seq]')];
    if (!stored.length) return;
    const byEl = new Map();
    for (const [user, seq] of r.readers) {
      let target = null;
      for (let i = stored.length - 1; i >= 0; i--) {
        if (Number(stored[i].dataset.seq) <= seq) { target = stored[i]; break; }
      }
      if (!target) continue;
      if (!byEl.has(target)) byEl.set(target, []);
      byEl.get(target).push(user);
    }
    for (const [target, users] of byEl) {
      const s = el('div', 'seen', `Seen by ${users.sort().join(', ')}`);
      s.setAttribute('data-testid', 'seen');
      target.appendChild(s);
    }
  }

  function renderHistoryStatus(r) {
    const hs = $('history-status');
    if (r.loadingOlder) hs.textContent = 'Loading older messages…';
    else if (r.more) hs.textContent = 'Scroll up for older messages';
    else if (r.msgs.size) hs.textContent = 'Beginning of the conversation';
    else hs.textContent = r.joined ? 'No messages yet. Say hello!' : '';
  }

  function renderTyping(r) {
    const users = [...r.typing.keys()].sort();
    const t = $('typing');
    if (!users.length) t.textContent = '';
    else if (users.length === 1) t.textContent = `${users[0]} is typing…`;
    else if (users.length <= 3) t.textContent = `${users.join(', ')} are typing…`;
    else t.textContent = 'Several people are typing…';
  }

  const nearBottom = (box) => box.scrollHeight - box.scrollTop - box.clientHeight < 48;
  const scrollToBottom = () => { const b = $('messages'); b.scrollTop = b.scrollHeight; };

  function maybeLoadOlder(r) {
    if (S.current !== r || !r.more || r.loadingOlder || !r.minSeq || r.minSeq <= 1) return;
    const box = $('messages');
    if (box.scrollTop > 80 && box.scrollHeight > box.clientHeight + 80) return;
    if (!send({ type: 'history', room: r.id, before: r.minSeq, limit: PAGE_SIZE,
      rid: rid('page', r.id) })) return;
    r.loadingOlder = true;
    renderHistoryStatus(r);
  }

  // Read markers: sent when the newest message is on screen in a visible page.
  function markRead(r) {
    if (S.current !== r || document.visibilityState !== 'visible') return;
    if (!nearBottom($('messages'))) return;
    const seq = r.maxSeq;
    if (seq > r.sentRead && seq > 0 && r.joined) {
      if (send({ type: 'read', room: r.id, seq })) r.sentRead = seq;
    }
    if (seq > r.read_seq) { r.read_seq = seq; renderRoomList(); }
  }

  function transmit(r, p) {
    send({ type: 'send', room: r.id, text: p.text, cid: p.cid });
  }

  function sendComposer() {
    const r = S.current;
    const box = $('composer');
    const text = box.value;
    if (!r || !text.trim()) return;
    if (utf8Len(text) > MAX_TEXT_BYTES) {
      toast(`Message too long (max ${MAX_TEXT_BYTES / 1024} KiB).`);
      return;
    }
    const p = { cid: newCid(), text, ts: Date.now(), failed: false };
    r.pending.set(p.cid, p);
    renderPending(r, p);
    scrollToBottom();
    transmit(r, p); // offline: it goes out after the next `hello`
    box.value = '';
    autosize();
    S.lastTypingSent = 0;
    box.focus();
  }

  function autosize() {
    const c = $('composer');
    c.style.height = 'auto';
    c.style.height = Math.min(c.scrollHeight, 160) + 'px';
  }

  // ---------------------------------------------------------------------------------------------
  // Rooms list and room view.

  function renderRoomList() {
    const ul = $('room-list');
    const rooms = [...S.rooms.values()].filter((r) => r.msgs.size || r.last_seq || !r.isDm ||
      r.wantJoined || r === S.current);
    rooms.sort((a, b) => b.activity - a.activity);
    ul.replaceChildren();
    let total = 0;
    for (const r of rooms) {
      const n = r === S.current && document.visibilityState === 'visible' &&
        nearBottom($('messages')) ? 0 : unread(r);
      total += n;
      const li = el('li', 'room-item');
      li.dataset.roomId = r.id;
      li.setAttribute('data-testid', 'room-item');
      if (r === S.current) li.classList.add('active');
      const b = el('button', 'room-btn');
      b.type = 'button';
      const label = roomLabel(r);
      b.title = r.id;
      b.appendChild(el('span', `avatar ${r.isDm ? 'dm' : 'group'}`,
        r.isDm ? label.slice(0, 1).toUpperCase() : '#'));
      b.appendChild(el('span', 'room-name', label));
      if (n > 0) {
        const u = el('span', 'unread', n > 99 ? '99+' : String(n));
        u.setAttribute('data-testid', 'unread');
        u.setAttribute('aria-label', `${n} unread`);
        b.appendChild(u);
        li.classList.add('has-unread');
      }
      b.addEventListener('click', () => openRoom(r.id));
      li.appendChild(b);
      ul.appendChild(li);
    }
    $('room-list-empty').hidden = rooms.length > 0;
    document.title = total ? `(${total}) Parley` : 'Parley';
  }

  function openRoom(id) {
    const r = ensureRoom(id);
    const changed = S.current !== r;
    S.current = r;
    $('chat-empty').hidden = true;
    $('chat-room').hidden = false;
    $('app-view').classList.add('show-chat');
    if (changed) {
      $('composer').value = '';
      autosize();
      renderAllMessages(r);
      renderTyping(r);
      renderRoomHeader(r);
      scrollToBottom();
    }
    if (!r.wantJoined) {
      r.wantJoined = true;
      if (S.ready) joinRoom(r);
    } else if (S.ready && !r.joined && !r.joinInFlight) {
      joinRoom(r);
    }
    markRead(r);
    renderRoomList();
    $('composer').focus();
  }

  async function renderRoomHeader(r) {
    $('room-title').textContent = roomLabel(r);
    $('add-member-form').hidden = r.isDm;
    const mem = $('room-members');
    if (r.isDm) {
      const [, a, b] = r.id.split(':');
      mem.textContent = a === b ? 'Only you can see this' : 'Direct message';
      return;
    }
    mem.textContent = r.members ? membersText(r.members) : 'Group';
    try {
      const info = await api('GET', `/api/rooms/${roomPath(r.id)}`);
      if (info && Array.isArray(info.members)) {
        r.members = info.members.map((m) => (typeof m === 'object' && m ? m.user || m.id : m))
          .map(String);
        if (info.name) r.name = info.name;
        if (S.current === r) {
          mem.textContent = membersText(r.members);
          $('room-title').textContent = roomLabel(r);
        }
      }
    } catch (e) {
      if (e.status === 404 && S.current === r) dropRoom(r.id, 'removed');
    }
  }

  const membersText = (ms) => `${ms.length} member${ms.length === 1 ? '' : 's'}: ${ms.join(', ')}`;

  function closeRoomView() {
    S.current = null;
    $('chat-room').hidden = true;
    $('chat-empty').hidden = false;
    $('app-view').classList.remove('show-chat');
    $('message-list').replaceChildren();
    $('typing').textContent = '';
  }

  function openDm(user) {
    user = user.trim();
    if (!USER_RE.test(user)) {
      toast('User names are 1-128 letters, digits or _ - . @');
      return;
    }
    if (!S.user) return;
    openRoom(dmRoomId(S.user, user));
    $('dm-user').value = '';
  }

  async function createGroup(name, membersText) {
    name = name.trim();
    const members = [...new Set(membersText.split(/[\s,;]+/).map((s) => s.trim())
      .filter((s) => s && s !== S.user))];
    if (!name) { toast('Give the group a name.'); return; }
    const bad = members.find((m) => !USER_RE.test(m));
    if (bad) { toast(`Not a valid user name: ${bad}`); return; }
    $('group-create').disabled = true;
    try {
      const g = await api('POST', '/api/rooms', { name, members });
      if (!g || typeof g.id !== 'string') throw new Error('unexpected answer');
      const r = ensureRoom(g.id, g.name || name);
      r.activity = ++S.activitySeq;
      r.createdAt = Date.now(); // a room list fetched before the POST must not drop it
      if (Array.isArray(g.members)) r.members = g.members.map(String);
      $('group-name').value = '';
      $('group-members').value = '';
      $('group-panel').open = false;
      openRoom(r.id);
    } catch (e) {
      if (e.status !== 401) toast(`Could not create the group: ${e.message}`);
    } finally {
      $('group-create').disabled = false;
    }
  }

  async function addMember(user) {
    const r = S.current;
    user = user.trim();
    if (!r || r.isDm || !user) return;
    if (!USER_RE.test(user)) { toast(`Not a valid user name: ${user}`); return; }
    try {
      await api('POST', `/api/rooms/${roomPath(r.id)}/members`, { user });
      $('add-member-user').value = '';
      toast(`Added ${user}`, 'info', 3000);
      renderRoomHeader(r);
    } catch (e) {
      if (e.status !== 401) toast(`Could not add ${user}: ${e.message}`);
    }
  }

  async function leaveGroup() {
    const r = S.current;
    if (!r || r.isDm || !S.user) return;
    if (!confirm(`Leave ${roomLabel(r)}?`)) return;
    try {
      await api('DELETE', `/api/rooms/${roomPath(r.id)}/members/${encodeURIComponent(S.user)}`);
      dropRoom(r.id, null);
    } catch (e) {
      if (e.status !== 401) toast(`Could not leave: ${e.message}`);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Wiring.

  function wire() {
    $('login-form').addEventListener('submit', (e) => {
      e.preventDefault();
      if (!$('login-user-group').hidden) loginWithName($('login-user').value);
      else loginWithToken($('login-token').value);
    });
    $('token-toggle').addEventListener('click', () => showTokenField());
    $('login-token-btn').addEventListener('click', () => loginWithToken($('login-token').value));
    $('logout-btn').addEventListener('click', logout);

    $('dm-form').addEventListener('submit', (e) => { e.preventDefault(); openDm($('dm-user').value); });
    $('group-form').addEventListener('submit', (e) => {
      e.preventDefault();
      createGroup($('group-name').value, $('group-members').value);
    });
    $('add-member-form').addEventListener('submit', (e) => {
      e.preventDefault();
      addMember($('add-member-user').value);
    });
    $('leave-btn').addEventListener('click', leaveGroup);
    $('back-btn').addEventListener('click', closeRoomView);

    $('composer-form').addEventListener('submit', (e) => { e.preventDefault(); sendComposer(); });
    $('composer').addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        sendComposer();
      }
    });
    $('composer').addEventListener('input', () => {
      autosize();
      const r = S.current;
      if (!r || !$('composer').value.trim()) return;
      const now = Date.now();
      if (now - S.lastTypingSent >= TYPING_SEND_EVERY_MS) {
        if (send({ type: 'typing', room: r.id })) S.lastTypingSent = now;
      }
    });

    $('messages').addEventListener('scroll', () => {
      const r = S.current;
      if (!r) return;
      maybeLoadOlder(r);
      markRead(r);
    }, { passive: true });
    document.addEventListener('visibilitychange', () => { if (S.current) markRead(S.current); });
    window.addEventListener('focus', () => { if (S.current) markRead(S.current); });
    window.addEventListener('online', () => {
      if (S.token && !S.ws) { S.attempt = 0; connect(); }
    });
  }

  function boot() {
    wire();
    let saved = null;
    try { saved = JSON.parse(sessionStorage.getItem(STORAGE_KEY) || 'null'); } catch { /* ignore */ }
    if (saved && typeof saved.token === 'string') {
      const c = decodeJwt(saved.token) || {};
      if (typeof c.exp !== 'number' || c.exp * 1000 > Date.now()) {
        S.user = saved.user || null;
        startSession(saved.token, !!saved.devMode);
        return;
      }
      S.user = saved.user || null;
      showLogin('Your session has expired. Please log in again.');
      return;
    }
    showLogin(null);
  }

  boot();
})();
