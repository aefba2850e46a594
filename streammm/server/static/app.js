// streammm web page: streams, a player, questions over one websocket, live watches.
// Plain JS, no build step. Everything the server sends is put in the page with textContent, never as HTML.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const player = $("player");

  // ---------------------------------------------------------------- helpers

  let idCounter = 0;
  const newId = (prefix) => `${prefix}-${Date.now().toString(36)}-${(++idCounter).toString(36)}`;

  /** mm:ss (h:mm:ss past an hour), as the server writes times; `up` rounds to the next second. */
  function clock(seconds, up = false) {
    let whole = up ? Math.ceil(seconds - 1e-6) : Math.floor(seconds + 1e-6);
    whole = Math.max(0, whole | 0);
    const h = Math.floor(whole / 3600);
    const m = Math.floor((whole % 3600) / 60);
    const s = whole % 60;
    const pad = (n) => String(n).padStart(2, "0");
    return h ? `${h}:${pad(m)}:${pad(s)}` : `${pad(m)}:${pad(s)}`;
  }

  const label = (stream, start, end) => `[${stream} @ ${clock(start)}–${clock(end, true)}]`;

  function snippet(text, max = 240) {
    const flat = String(text || "").replace(/\s+/g, " ").trim();
    return flat.length > max ? flat.slice(0, max - 1) + "…" : flat;
  }

  /** An element with a class and text (text always set with textContent). */
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function show(node, text) {
    node.textContent = text;
    node.hidden = !text;
  }

  const isNumber = (x) => typeof x === "number" && Number.isFinite(x);

  // ---------------------------------------------------------------- access token

  const TOKEN_KEY = "streammm.token";
  let token = "";
  try {
    token = new URLSearchParams(location.search).get("token") || "";
    if (token) localStorage.setItem(TOKEN_KEY, token);
    else token = localStorage.getItem(TOKEN_KEY) || "";
  } catch (_) {
    /* storage may be unavailable (private mode); the URL token still works */
  }

  /** `url` with ?token= when there is a token (for <img>, <video> and the websocket). */
  function withToken(url) {
    if (!url || !token) return url;
    const u = new URL(url, location.href);
    u.searchParams.set("token", token);
    return u.href;
  }

  class Unauthorized extends Error {}

  async function api(path, options = {}) {
    const headers = new Headers(options.headers || {});
    if (token) headers.set("Authorization", `Bearer ${token}`);
    const response = await fetch(path, { ...options, headers });
    if (response.status === 401) {
      askForToken();
      throw new Unauthorized("this server needs an access token");
    }
    if (!response.ok) {
      let message = `HTTP ${response.status}`;
      try {
        const body = await response.json();
        if (body && body.error) message = `${body.error.code}: ${body.error.message}`;
      } catch (_) {
        /* not JSON */
      }
      throw new Error(message);
    }
    return response.json();
  }

  const tokenForm = $("token-form");
  function askForToken() {
    if (!tokenForm.hidden) return;
    tokenForm.hidden = false;
    $("token-input").focus();
  }
  tokenForm.addEventListener("submit", (event) => {
    event.preventDefault();
    token = $("token-input").value.trim();
    if (!token) return;
    try {
      localStorage.setItem(TOKEN_KEY, token);
    } catch (_) {
      /* ignore */
    }
    tokenForm.hidden = true;
    $("token-input").value = "";
    loadConfig();
    refreshStreams();
    reconnectNow();
    if (loadedStream) {
      const id = loadedStream;
      loadedStream = null;
      loadStream(id).catch(() => {});
    }
  });

  // ---------------------------------------------------------------- server config

  /** Fill the strategy select from the server's list; until then (or without a token) the server's default is used. */
  async function loadConfig() {
    let body;
    try {
      body = await api("/v1/config");
    } catch (_) {
      return;
    }
    const strategies = Array.isArray(body.strategies) ? body.strategies.filter((s) => typeof s === "string") : [];
    if (!strategies.length) return;
    const select = $("strategy");
    const chosen = select.value || body.default_strategy;
    select.replaceChildren(...strategies.map((s) => new Option(s, s)));
    select.value = strategies.includes(chosen) ? chosen : strategies[0];
  }

  // ---------------------------------------------------------------- streams and the player

  const streams = new Map(); // stream_id -> {stream_id, clips, start_s, end_s, media_url}
  let streamsKey = "";
  let selectedStream = null;
  let loadedStream = null;
  let loading = null;
  let loadSeq = 0;
  let seekSeq = 0;

  async function refreshStreams() {
    try {
      const body = await api("/v1/streams");
      const list = Array.isArray(body.streams) ? body.streams : [];
      const key = JSON.stringify(list);
      streams.clear();
      for (const s of list) streams.set(s.stream_id, s);
      if (key !== streamsKey) {
        streamsKey = key;
        renderStreams();
      }
      show($("streams-note"), list.length ? "" : "No streams yet.");
    } catch (err) {
      show($("streams-note"), err instanceof Unauthorized ? "A token is needed to list streams." : `Could not list streams: ${err.message}`);
    }
  }

  function renderStreams() {
    const list = $("streams");
    const items = [];
    for (const s of streams.values()) {
      const li = el("li");
      const button = el("button", "stream");
      button.type = "button";
      button.dataset.stream = s.stream_id;
      if (s.stream_id === selectedStream) {
        button.classList.add("selected");
        button.setAttribute("aria-current", "true");
      }
      button.append(el("span", "stream-name", s.stream_id));
      const parts = [];
      if (isNumber(s.clips)) parts.push(`${s.clips} clip${s.clips === 1 ? "" : "s"}`);
      if (isNumber(s.start_s) && isNumber(s.end_s)) parts.push(`${clock(s.start_s)}–${clock(s.end_s, true)}`);
      if (!s.media_url) parts.push("no media");
      if (s.state) parts.push(s.last_error && (s.state === "reconnecting" || s.state === "failed") ? `${s.state}: ${s.last_error}` : s.state);
      if (isNumber(s.gaps) && s.gaps > 0) parts.push(`${s.gaps} gap${s.gaps === 1 ? "" : "s"}`);
      button.append(el("span", "stream-meta", parts.join(" · ")));
      button.addEventListener("click", () => {
        loadStream(s.stream_id).catch(() => {});
      });
      li.append(button);
      items.push(li);
    }
    list.replaceChildren(...items);
    updateScope();
  }

  function updateScope() {
    const option = $("scope").querySelector('option[value="selected"]');
    option.disabled = !selectedStream;
    option.textContent = selectedStream ? `Only ${selectedStream}` : "Selected stream";
    if (!selectedStream && $("scope").value === "selected") $("scope").value = "all";
  }

  function select(streamId) {
    if (selectedStream === streamId) return;
    selectedStream = streamId;
    for (const b of $("streams").querySelectorAll("button.stream")) {
      const on = b.dataset.stream === streamId;
      b.classList.toggle("selected", on);
      if (on) b.setAttribute("aria-current", "true");
      else b.removeAttribute("aria-current");
    }
    updateScope();
  }

  class NoMedia extends Error {}

  function mediaErrorText(error) {
    const codes = { 1: "aborted", 2: "network error", 3: "could not decode", 4: "format not supported by this browser" };
    return `Cannot play this stream's media (${(error && codes[error.code]) || "unknown error"}).`;
  }

  /** Load a stream's media into the player; resolves once its metadata is loaded. */
  function loadStream(streamId) {
    select(streamId);
    const stream = streams.get(streamId);
    const note = $("player-note");
    if (!stream || !stream.media_url) {
      ++loadSeq;
      loadedStream = null;
      loading = null;
      player.pause();
      player.removeAttribute("src");
      player.dataset.stream = "";
      player.load();
      show(note, "no playable media for this stream");
      $("now-playing").textContent = streamId;
      return Promise.reject(new NoMedia(streamId));
    }
    show(note, "");
    if (loadedStream === streamId && loading) return loading;

    const seq = ++loadSeq;
    loadedStream = streamId;
    player.dataset.stream = streamId;
    $("now-playing").textContent = `Playing ${streamId}`;
    loading = new Promise((resolve, reject) => {
      const done = () => {
        player.removeEventListener("loadedmetadata", ok);
        player.removeEventListener("error", fail);
      };
      const ok = () => {
        done();
        resolve();
      };
      const fail = () => {
        done();
        if (seq === loadSeq) show(note, mediaErrorText(player.error));
        reject(new Error(mediaErrorText(player.error)));
      };
      player.addEventListener("loadedmetadata", ok);
      player.addEventListener("error", fail);
    });
    loading.catch(() => {
      if (seq === loadSeq) loading = null; // a later click tries again
    });
    player.src = withToken(stream.media_url);
    player.load();
    return loading;
  }

  /** Load `streamId` if needed, seek to `start`, play (muted if the browser insists). */
  async function playAt(streamId, start) {
    const seq = ++seekSeq;
    if (!streams.has(streamId)) await refreshStreams();
    try {
      await loadStream(streamId);
    } catch (_) {
      return; // the note says why
    }
    if (seq !== seekSeq) return; // another click came since
    player.currentTime = Math.max(0, Number(start) || 0);
    const played = player.play();
    if (played && played.catch) {
      played.catch((err) => {
        if (err && err.name === "NotAllowedError" && !player.muted) {
          player.muted = true;
          player.play().catch(() => {});
        }
      });
    }
    const box = player.getBoundingClientRect();
    if (box.bottom < 0 || box.top > window.innerHeight) player.scrollIntoView({ behavior: "smooth", block: "center" });
  }

  // ---------------------------------------------------------------- websocket

  const ws = { socket: null, backoff: 500, timer: null };
  const open = new Map(); // id -> message of an ask in progress or an active watch

  function setConn(state, text) {
    const node = $("conn");
    node.className = `conn conn-${state}`;
    node.textContent = text || state;
  }

  function wsUrl() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return withToken(`${scheme}//${location.host}/v1/ws`);
  }

  function connect() {
    clearTimeout(ws.timer);
    ws.timer = null;
    setConn("connecting", "connecting…");
    let socket;
    try {
      socket = new WebSocket(wsUrl());
    } catch (_) {
      scheduleReconnect();
      return;
    }
    ws.socket = socket;
    socket.addEventListener("open", () => {
      if (ws.socket !== socket) return;
      ws.backoff = 500;
      setConn("open", "connected");
      for (const message of open.values()) {
        if (message.type === "ask") startAskView(message.id);
        socket.send(JSON.stringify(message)); // requests the old socket lost, asked again
      }
    });
    socket.addEventListener("message", (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch (_) {
        return;
      }
      if (message && typeof message === "object") handle(message);
    });
    socket.addEventListener("close", (event) => {
      if (ws.socket !== socket) return;
      ws.socket = null;
      for (const [id, message] of open) {
        if (message.cancelling) open.delete(id);
        else if (message.type === "ask" && id === currentAsk) setStatus("connection lost, will ask again…");
        else if (message.type === "watch") setWatchState(id, "reconnecting…");
      }
      if (event.code === 4401) {
        setConn("closed", "needs a token");
        askForToken();
        return;
      }
      setConn("closed", "disconnected");
      scheduleReconnect();
    });
  }

  function scheduleReconnect() {
    if (ws.timer) return;
    const delay = ws.backoff + Math.random() * 250;
    ws.backoff = Math.min(ws.backoff * 2, 15000);
    ws.timer = setTimeout(connect, delay);
  }

  function reconnectNow() {
    ws.backoff = 500;
    const old = ws.socket;
    ws.socket = null;
    if (old) old.close();
    connect();
  }

  const socketOpen = () => ws.socket && ws.socket.readyState === WebSocket.OPEN;

  /** Send a request now, or when the socket (re)opens. */
  function request(message) {
    open.set(message.id, message);
    if (socketOpen()) ws.socket.send(JSON.stringify(message));
    else if (!ws.socket && !ws.timer) connect();
  }

  function cancel(id) {
    const message = open.get(id);
    if (!message) return false;
    if (socketOpen()) {
      message.cancelling = true;
      ws.socket.send(JSON.stringify({ type: "cancel", id }));
    } else {
      open.delete(id); // never sent, or lost with the old socket
    }
    return true;
  }

  function handle(message) {
    const id = message.id;
    switch (message.type) {
      case "moments":
        if (id === currentAsk) onMoments(message);
        break;
      case "answer.delta":
        if (id === currentAsk) onDelta(message);
        break;
      case "answer.done":
        open.delete(id);
        if (id === currentAsk) onDone(message);
        break;
      case "watching":
        setWatchState(id, "watching");
        break;
      case "match":
        if (watches.has(id)) onMatch(message);
        break;
      case "cancelled":
        open.delete(id);
        if (id === currentAsk) setStatus("cancelled");
        removeWatch(id);
        break;
      case "error":
        onError(message);
        break;
      default:
        break;
    }
  }

  function onError(message) {
    const id = message.id;
    const text = `${message.code || "error"}: ${message.message || ""}`.trim();
    const pending = id !== null && id !== undefined ? open.get(id) : undefined;
    if (message.code === "unknown_id" && pending && pending.cancelling) {
      open.delete(id); // it had finished already
      removeWatch(id);
      return;
    }
    if (pending) open.delete(id);
    if (id === currentAsk) {
      setStatus("");
      show($("ask-error"), text);
    } else if (watches.has(id)) {
      removeWatch(id);
      show($("watch-error"), message.code === "watch_unavailable" ? `Live watch is unavailable: ${message.message || "the server has no clip feed"}` : text);
    } else if (id === null || id === undefined) {
      show($("ask-error"), text);
    }
  }

  // ---------------------------------------------------------------- asking

  let currentAsk = null;
  let answerText = "";

  function setStatus(text) {
    $("ask-status").textContent = text ? `· ${text}` : "";
  }

  function startAskView(id) {
    currentAsk = id;
    answerText = "";
    $("answer").replaceChildren();
    $("answer").classList.add("pending");
    $("answer-meta").textContent = "";
    show($("ask-error"), "");
    $("moments").replaceChildren();
    show($("moments-note"), "Searching…");
    setStatus("searching…");
  }

  $("ask-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const question = $("question").value.trim();
    if (!question) return;
    if (currentAsk && open.has(currentAsk)) cancel(currentAsk);
    const id = newId("ask");
    const message = { type: "ask", id, question };
    if ($("strategy").value) message.strategy = $("strategy").value;
    if ($("scope").value === "selected" && selectedStream) message.streams = [selectedStream];
    startAskView(id);
    request(message);
  });

  function onMoments(message) {
    const moments = Array.isArray(message.moments) ? message.moments : [];
    $("moments").replaceChildren(...moments.map((m) => momentItem(m)));
    show($("moments-note"), moments.length ? "" : "No moments found.");
    setStatus("answering…");
  }

  function thumbnail(url) {
    if (!url) return el("span", "thumb thumb-none", "no image");
    const img = el("img", "thumb");
    img.alt = "";
    img.loading = "lazy";
    img.decoding = "async";
    img.addEventListener("error", () => img.replaceWith(el("span", "thumb thumb-none", "no image")));
    img.src = withToken(url);
    return img;
  }

  /** One moment (or watch match) as a clickable list item that plays its window. */
  function momentItem(moment, extra) {
    const li = el("li");
    const button = el("button", "moment");
    button.type = "button";
    button.dataset.stream = moment.stream_id;
    button.dataset.start = moment.start_s;
    button.dataset.end = moment.end_s;
    button.append(thumbnail(moment.thumbnail_url));
    const body = el("span", "moment-body");
    const head = el("span", "moment-head");
    head.append(el("span", "moment-label", label(moment.stream_id, moment.start_s, moment.end_s)));
    // A search's moments show their calibrated relevance (0-1), not the fused rank's score; a watch's
    // match shows the score it matched with.
    if (isNumber(extra && extra.score)) head.append(el("span", "score", `score ${extra.score.toFixed(3)}`));
    else if (isNumber(moment.relevance)) head.append(el("span", "score", `relevance ${Math.round(moment.relevance * 100)}%`));
    body.append(head);
    if (extra && extra.text) body.append(el("span", "moment-extra", extra.text));
    if (moment.transcript) body.append(el("span", "transcript", `“${snippet(moment.transcript)}”`));
    if (moment.ocr_text) body.append(el("span", "ocr", `On screen: ${snippet(moment.ocr_text, 160)}`));
    if (Array.isArray(moment.tags) && moment.tags.length) body.append(el("span", "tags", moment.tags.join(", ")));
    button.append(body);
    button.addEventListener("click", () => playAt(moment.stream_id, moment.start_s));
    li.append(button);
    return li;
  }

  function onDelta(message) {
    if (typeof message.text !== "string") return;
    answerText += message.text;
    $("answer").append(document.createTextNode(message.text));
  }

  const isPosition = (x) => Number.isInteger(x) && x >= 0;

  /** The answer text as nodes, each citation's tag (at its text_start..text_end, in code points) made a link. */
  function citedText(text, citations) {
    const chars = Array.from(text); // code points, as the server counts them
    const placed = citations
      .filter((c) => c && isPosition(c.text_start) && isPosition(c.text_end) && c.text_start < c.text_end && c.text_end <= chars.length)
      .sort((a, b) => a.text_start - b.text_start);
    const nodes = [];
    let last = 0;
    for (const c of placed) {
      if (c.text_start < last) continue; // overlaps the previous one
      if (c.text_start > last) nodes.push(document.createTextNode(chars.slice(last, c.text_start).join("")));
      const a = el("a", "citation", chars.slice(c.text_start, c.text_end).join(""));
      a.href = "#";
      a.dataset.stream = c.stream_id;
      a.dataset.start = c.start_s;
      a.dataset.end = c.end_s;
      if (c.clip_id) a.dataset.clip = c.clip_id;
      a.title = `Play ${c.stream_id} from ${clock(c.start_s)}`;
      a.addEventListener("click", (event) => {
        event.preventDefault();
        playAt(c.stream_id, c.start_s);
      });
      nodes.push(a);
      last = c.text_end;
    }
    if (last < chars.length) nodes.push(document.createTextNode(chars.slice(last).join("")));
    return nodes;
  }

  function onDone(message) {
    const text = typeof message.text === "string" ? message.text : answerText;
    const citations = Array.isArray(message.citations) ? message.citations : [];
    const answer = $("answer");
    answer.classList.remove("pending");
    answer.replaceChildren(...citedText(text, citations));
    if (!text.trim()) answer.textContent = "No answer.";
    const meta = [];
    if (message.answerer) meta.push(`answered by ${message.answerer}`);
    if (message.removed_citations) meta.push(`${message.removed_citations} unsupported citation(s) removed`);
    if (message.note) meta.push(String(message.note));
    $("answer-meta").textContent = meta.join(" · ");
    setStatus("");
  }

  // ---------------------------------------------------------------- watching

  const watches = new Map(); // id -> {query, item, state}
  const MAX_MATCHES = 100;

  $("watch-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const query = $("watch-query").value.trim();
    if (!query) return;
    const id = newId("watch");
    show($("watch-error"), "");
    addWatch(id, query);
    request({ type: "watch", id, query });
    $("watch-query").value = "";
  });

  function addWatch(id, query) {
    const li = el("li", "watch-item");
    li.append(el("span", "watch-query", query));
    const state = el("span", "watch-state muted", "starting…");
    li.append(state);
    const button = el("button", "cancel", "Cancel");
    button.type = "button";
    button.dataset.id = id;
    button.addEventListener("click", () => {
      state.textContent = "cancelling…";
      button.disabled = true;
      if (!cancel(id)) removeWatch(id);
    });
    li.append(button);
    $("watches").append(li);
    watches.set(id, { query, item: li, state });
  }

  function setWatchState(id, text) {
    const watch = watches.get(id);
    if (watch) watch.state.textContent = text;
  }

  function removeWatch(id) {
    const watch = watches.get(id);
    if (!watch) return;
    watch.item.remove();
    watches.delete(id);
  }

  function onMatch(message) {
    const moment = message.moment || {};
    const watch = watches.get(message.id);
    const how = message.matched_by ? ` (${message.matched_by})` : "";
    const item = momentItem(moment, { score: message.score, text: `${watch ? watch.query : "match"}${how}` });
    item.classList.add("match");
    const list = $("matches");
    list.prepend(item);
    while (list.children.length > MAX_MATCHES) list.lastElementChild.remove();
  }

  // ---------------------------------------------------------------- start

  loadConfig();
  refreshStreams();
  setInterval(refreshStreams, 10000);
  connect();
})();
