// The waiting room's behaviour: count down to the time the reception gave, ask again by itself
// (Sc55–Sc56), show the new place and estimate (Sa56), and chime when the buyer is let in (0051).
// The page's CSP allows no inline code, so the data comes from data attributes on #room, and
// text is only ever set through textContent (the server's strings are never parsed as HTML).
'use strict';

(() => {
  const room = document.getElementById('room');
  if (!room) return;

  const MIN_POLL_MS = 100; // the floor whatever the server says, so a bad answer cannot spin
  const ERROR_RETRY_MS = 5000; // after a refusal that may clear up by itself
  const UNAVAILABLE_RETRY_MS = 2000; // when "unavailable" carries no Retry-After
  const MAX_BACKOFF_MS = 30000; // network errors back off up to this
  const LEAVE_AFTER_MS = 600; // the chime lasts about 0.5 s; leaving earlier would cut it off
  const BLOCKED_AFTER_MS = 300; // a context the browser will not start never settles resume()
  const SOUND_KEY = 'usher-sound';

  const byId = (id) => document.getElementById(id);
  const headingEl = byId('heading');
  const positionEl = byId('position');
  const estimateEl = byId('estimate');
  const messageEl = byId('message');
  const countdownEl = byId('countdown');
  const soundEl = byId('sound');
  const openingEl = byId('opening');
  const leadEl = byId('lead');
  const item = room.dataset.item || '';
  // The name buyers know the item by, as the page says it.
  const itemName = byId('item')?.textContent || item;
  // The page is served at the order URL itself, so its own path is the exact one to ask again
  // (it keeps the item's encoding and any prefix a proxy adds).
  const orderUrl = location.pathname.startsWith('/order/')
    ? location.pathname
    : '/order/' + encodeURIComponent(item);

  let dueAt = 0; // Date.now() when to ask again; wall time, so a phone that slept asks at once
  let lastAskAt = 0;
  let tickTimer = 0;
  let failures = 0;
  let stopped = false;
  let soundOn = loadSound();
  let audio = null;
  // Before a scheduled opening: Date.now() when it comes, from the page's own "opens in" (so
  // the buyer's clock being off does not matter).
  let opensAt = openingEl ? Date.now() + count(Number(openingEl.dataset.opensInMs), 0) : 0;
  let openingTimer = 0;

  function setText(el, text) {
    if (el && el.textContent !== text) el.textContent = text;
  }

  function count(value, fallback) {
    return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : fallback;
  }

  // Same wording and steps as the server-rendered page (waiting_page.rs).
  function positionText(position) {
    return position <= 1 ? 'You are next.' : `You are number ${position} in line.`;
  }

  // The estimate's range (about p10 to p90) in words: "about 4–6 minutes".
  function estimateText(lowMs, highMs) {
    const MINUTE = 60000;
    let words;
    if (highMs < 10000) words = 'a few seconds';
    else if (highMs < MINUTE) words = 'less than a minute';
    else {
      const low = Math.floor(lowMs / MINUTE);
      const high = Math.ceil(highMs / MINUTE);
      if (high < 90) {
        if (high === 1) words = 'up to a minute';
        else if (low === 0) words = `up to ${high} minutes`;
        else words = `about ${low}–${high} minutes`;
      } else {
        const from = Math.floor(low / 60);
        const to = Math.ceil(high / 60);
        words = from <= 1 ? `up to ${to} hours` : `about ${from}–${to} hours`;
      }
    }
    return `Estimated wait: ${words}.`;
  }

  // Same words as the server-rendered page (page.rs).
  function opensInText(ms) {
    const secs = Math.ceil(ms / 1000);
    const h = Math.floor(secs / 3600);
    const m = Math.floor(secs / 60) % 60;
    const s = String(secs % 60).padStart(2, '0');
    return h > 0
      ? `The sale opens in ${h}:${String(m).padStart(2, '0')}:${s}.`
      : `The sale opens in ${m}:${s}.`;
  }

  function openingTick() {
    clearTimeout(openingTimer);
    if (!openingEl || opensAt === 0) return;
    const left = opensAt - Date.now();
    if (left <= 0) {
      setText(openingEl, 'The sale is opening…');
      return;
    }
    setText(openingEl, opensInText(left));
    openingTimer = setTimeout(openingTick, ((left - 1) % 1000) + 1);
  }

  // --- Countdown and polling -------------------------------------------------------------

  function askIn(ms) {
    if (stopped) return;
    const now = Date.now();
    dueAt = now + Math.max(ms, MIN_POLL_MS, lastAskAt + MIN_POLL_MS - now);
    tick();
  }

  function tick() {
    clearTimeout(tickTimer);
    if (stopped || dueAt === 0) return;
    const left = dueAt - Date.now();
    if (left <= 0) {
      poll();
      return;
    }
    const secs = Math.ceil(left / 1000);
    setText(countdownEl, `Checking again in ${secs} ${secs === 1 ? 'second' : 'seconds'}.`);
    // Wake exactly when the shown number changes, or when it is time to ask.
    tickTimer = setTimeout(tick, left - (secs - 1) * 1000);
  }

  async function poll() {
    dueAt = 0;
    lastAskAt = Date.now();
    setText(countdownEl, 'Checking now…');
    let response;
    let body;
    try {
      response = await fetch(orderUrl, {
        headers: { Accept: 'application/json' },
        credentials: 'same-origin',
        cache: 'no-store',
        redirect: 'manual',
      });
      if (response.type === 'opaqueredirect') {
        // The reception answered with a redirect despite the JSON request: only a navigation
        // can follow it.
        stopped = true;
        location.assign(orderUrl);
        return;
      }
      body = await response.json();
    } catch {
      backOff();
      return;
    }
    answer(response, body && typeof body === 'object' ? body : {});
  }

  function answer(response, body) {
    if (response.status === 200 && body.status === 'admitted') {
      admitted(body.url);
    } else if (body.status === 'waiting') {
      failures = 0;
      waiting(body);
    } else if (body.status === 'sold_out') {
      finish('Sold out', `Sorry, ${itemName} is sold out.`);
    } else if (body.status === 'unavailable') {
      failures = 0;
      setText(messageEl, 'No shop can be reached right now. This page keeps trying.');
      askIn(retryAfter(response) ?? UNAVAILABLE_RETRY_MS);
    } else if (typeof body.error === 'string') {
      failures = 0;
      const text = typeof body.message === 'string' && body.message
        ? body.message
        : 'The reception refused this request.';
      if (body.error === 'too_many') {
        finish('Please come back later', text);
      } else {
        setText(messageEl, text);
        askIn(ERROR_RETRY_MS);
      }
    } else {
      backOff();
    }
  }

  function waiting(body) {
    if (openingEl && typeof body.opens_at !== 'string' && opensAt !== 0) {
      // The sale opened and the draw placed this buyer.
      opensAt = 0;
      openingEl.hidden = true;
      setText(headingEl, 'You are in line');
      setText(leadEl, 'The sale is open. Keep this page open: it asks again by itself and ' +
        'takes you in when it is your turn.');
    }
    if (typeof body.position === 'number') {
      room.dataset.position = String(body.position);
      setText(positionEl, positionText(body.position));
    }
    const estimate = count(body.estimated_wait_ms, null);
    if (estimate !== null) {
      const low = count(body.estimate_low_ms, estimate);
      const high = count(body.estimate_high_ms, estimate);
      room.dataset.estimateMs = String(estimate);
      room.dataset.estimateLowMs = String(low);
      room.dataset.estimateHighMs = String(high);
      setText(estimateEl, estimateText(low, high));
    }
    setText(messageEl, '');
    askIn(count(body.retry_after_ms, ERROR_RETRY_MS));
  }

  function retryAfter(response) {
    const header = response.headers.get('Retry-After');
    const secs = header === null ? NaN : Number(header);
    return Number.isFinite(secs) && secs >= 0 ? secs * 1000 : null;
  }

  function backOff() {
    failures += 1;
    setText(messageEl, 'The connection is having trouble. This page keeps trying.');
    askIn(Math.min(1000 * 2 ** (failures - 1), MAX_BACKOFF_MS));
  }

  // Stops asking; the style sheet hides what only made sense while waiting.
  function finish(heading, text) {
    stopped = true;
    clearTimeout(tickTimer);
    clearTimeout(openingTimer);
    if (openingEl) openingEl.hidden = true;
    room.dataset.state = 'over';
    setText(headingEl, heading);
    setText(positionEl, '');
    setText(estimateEl, '');
    setText(countdownEl, '');
    setText(messageEl, text);
  }

  function admitted(url) {
    let target;
    try {
      target = new URL(url, location.href);
    } catch {
      backOff();
      return;
    }
    // Only ever leave for a web page: a javascript: URL here would run in this origin.
    if (target.protocol !== 'https:' && target.protocol !== 'http:') {
      backOff();
      return;
    }
    finish("It's your turn", "It's your turn! Taking you to the shop…");
    chime(() => setTimeout(() => location.assign(target.href), LEAVE_AFTER_MS));
  }

  // --- Sound ------------------------------------------------------------------------------

  function loadSound() {
    try {
      return localStorage.getItem(SOUND_KEY) === 'on';
    } catch {
      return false; // storage disabled: sound simply starts off
    }
  }

  function saveSound() {
    try {
      localStorage.setItem(SOUND_KEY, soundOn ? 'on' : 'off');
    } catch {
      // The choice then lasts for this page only.
    }
  }

  function audioContext() {
    if (!audio) {
      const Context = window.AudioContext || window.webkitAudioContext;
      if (!Context) return null;
      try {
        audio = new Context();
      } catch {
        return null;
      }
    }
    return audio;
  }

  // Two short sine notes, a rising fifth, each with a quick attack and a soft decay.
  function notes(context, volume) {
    const start = context.currentTime + 0.01;
    for (const [frequency, at] of [[659.25, 0], [987.77, 0.18]]) {
      const oscillator = context.createOscillator();
      const gain = context.createGain();
      oscillator.type = 'sine';
      oscillator.frequency.value = frequency;
      gain.gain.setValueAtTime(0.0001, start + at);
      gain.gain.exponentialRampToValueAtTime(volume, start + at + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + at + 0.3);
      oscillator.connect(gain).connect(context.destination);
      oscillator.start(start + at);
      oscillator.stop(start + at + 0.32);
    }
  }

  // Calls `then` once the chime started, or when it would have (muted or blocked), and records
  // which it was on <html> and in the console so a test can tell.
  function chime(then) {
    let done = false;
    const mark = (state) => {
      if (done) return;
      done = true;
      document.documentElement.dataset.chimed = '1';
      document.documentElement.dataset.sound = state;
      console.info('usher:chime', state);
      then();
    };
    if (!soundOn) return mark('muted');
    const context = audioContext();
    if (!context) return mark('blocked');
    const play = () => {
      if (done || context.state !== 'running') return mark('blocked');
      notes(context, 0.3);
      return mark('played');
    };
    if (context.state === 'running') return play();
    setTimeout(() => mark('blocked'), BLOCKED_AFTER_MS);
    context.resume().then(play, () => mark('blocked'));
    return undefined;
  }

  // Browsers start audio only inside a user gesture; when the choice was remembered from an
  // earlier visit, any click or key on the page unlocks it.
  function unlock() {
    if (!soundOn) return;
    const context = audioContext();
    if (context && context.state !== 'running') context.resume().catch(() => {});
  }

  function showSound() {
    soundEl.setAttribute('aria-pressed', String(soundOn));
  }

  if (soundEl) {
    soundEl.hidden = false; // useless without this script, so the page ships it hidden
    showSound();
    soundEl.addEventListener('click', () => {
      soundOn = !soundOn;
      saveSound();
      showSound();
      const context = soundOn ? audioContext() : null;
      // A quiet preview inside the gesture: the buyer hears what to wait for, and iOS only
      // unlocks audio that actually played.
      if (context) context.resume().then(() => notes(context, 0.12), () => {});
    });
  }
  for (const type of ['pointerup', 'keydown', 'click']) {
    document.addEventListener(type, unlock, { capture: true, passive: true });
  }

  // Background tabs throttle timers; coming back should not wait out a stale countdown.
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') {
      tick();
      openingTick();
    }
  });

  openingTick();
  askIn(count(Number(room.dataset.retryMs), ERROR_RETRY_MS));
})();
