// A test double of the reception and one shop, so waiting.mjs and the page's script can be
// exercised without building the Rust server. Run `node mock.mjs`; it prints
// `RECEPTION <url>` and `SHOP <url>`. Each line `free` on stdin lets the next poller in.
// Polls for items `sold-out` and `too-many` get those refusals, to try the page's other paths.
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';

const ASSETS = new URL('../../../reception/assets/', import.meta.url);
const PAGE_RS = new URL('../../../reception/src/waiting_page.rs', import.meta.url);
// Read from the Rust module rather than copied, so the double cannot drift from the policy.
const CSP = (await readFile(PAGE_RS, 'utf8')).match(/const CSP: &str = "([^"]+)"/)[1];
const PAGE_RETRY_MS = 3000;
const POLL_RETRY_MS = 2500;
const STEP_MS = 9000; // estimated wait per place ahead

const places = new Map(); // queue token -> position
let nextPosition = 12;
let freed = 0;

const escape = (text) =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

function estimateWords(ms) {
  if (ms < 10000) return 'a few seconds';
  if (ms < 60000) return 'less than a minute';
  if (ms < 90000) return 'about a minute';
  const minutes = Math.floor((ms + 30000) / 60000);
  return minutes < 90 ? `about ${minutes} minutes` : `about ${Math.floor((minutes + 30) / 60)} hours`;
}

// Mirrors waiting_page() in crates/reception/src/waiting_page.rs closely enough for a double.
function page(item, position, estimateMs, retryMs) {
  const secs = Math.max(1, Math.ceil(retryMs / 1000));
  const it = escape(item);
  const placeText = position <= 1 ? 'You are next.' : `You are number ${position} in line.`;
  return `<!doctype html>
<html lang=en>
<head>
<meta charset=utf-8>
<meta name=viewport content="width=device-width,initial-scale=1">
<meta name=color-scheme content="light dark">
<noscript><meta http-equiv=refresh content="${secs}"></noscript>
<title>In line for ${it}</title>
<link rel=stylesheet href="/assets/waiting.css">
<script src="/assets/waiting.js" defer></script>
</head>
<body>
<main id=room data-item="${it}" data-position="${position}" data-estimate-ms="${estimateMs}" data-retry-ms="${retryMs}">
<h1 id=heading>You are in line</h1>
<p class=lead>Every shop selling <strong id=item>${it}</strong> is full right now. Keep this page open: it asks again by itself and takes you in when it is your turn.</p>
<div id=status class=status role=status aria-live=polite aria-atomic=true>
<p id=position class=position>${placeText}</p>
<p id=estimate class=estimate>Estimated wait: ${estimateWords(estimateMs)}.</p>
<p id=message class=message></p>
</div>
<p id=countdown class=countdown>Checking again in ${secs} ${secs === 1 ? 'second' : 'seconds'}.</p>
<button id=sound class=sound type=button aria-pressed=false hidden><span class=switch aria-hidden=true></span>Play a sound when it is my turn</button>
<p class=note>Your place is kept if you reload this page.</p>
</main>
</body>
</html>
`;
}

function send(res, status, headers, body) {
  res.writeHead(status, { 'Cache-Control': 'no-store', ...headers });
  res.end(body);
}

const json = (res, status, value, headers = {}) =>
  send(res, status, { 'Content-Type': 'application/json', ...headers }, JSON.stringify(value));

function order(req, res, item, shop) {
  const html = (req.headers.accept || '').includes('text/html');
  if (!html && item === 'sold-out') return json(res, 410, { status: 'sold_out' });
  if (!html && item === 'too-many') return json(res, 429, { error: 'too_many', message: 'Too many places held from this address.' });
  const cookie = `usher-queue-${item}`;
  const token = (req.headers.cookie || '').split(/;\s*/).find((c) => c.startsWith(cookie + '='))?.slice(cookie.length + 1);
  if (token && places.has(token) && freed > 0) {
    freed -= 1;
    places.delete(token);
    const url = `${shop}/t/${randomBytes(8).toString('hex')}/items/${item}`;
    if (html) return send(res, 303, { Location: url }, '');
    return json(res, 200, { status: 'admitted', url, server: 'mock-shop', expires_at: new Date(Date.now() + 60000).toISOString() });
  }
  let place = token ? places.get(token) : undefined;
  let queueToken = token;
  if (place === undefined) {
    queueToken = randomBytes(12).toString('hex');
    place = nextPosition++;
  } else {
    place = Math.max(1, place - 1);
  }
  places.set(queueToken, place);
  const retryMs = html ? PAGE_RETRY_MS : POLL_RETRY_MS;
  const headers = {
    'Retry-After': String(Math.max(1, Math.ceil(retryMs / 1000))),
    'Set-Cookie': `${cookie}=${queueToken}; Path=/; HttpOnly; SameSite=Lax`,
  };
  if (html) {
    return send(res, 503, { ...headers, 'Content-Type': 'text/html; charset=utf-8', 'Content-Security-Policy': CSP },
      page(item, place, place * STEP_MS, retryMs));
  }
  return json(res, 503, { status: 'waiting', queue_token: queueToken, position: place, estimated_wait_ms: place * STEP_MS, retry_after_ms: retryMs }, headers);
}

async function reception(req, res, shop) {
  const path = new URL(req.url, 'http://mock').pathname;
  const asset = path.match(/^\/assets\/(waiting\.(js|css))$/);
  if (asset) {
    const type = asset[2] === 'js' ? 'text/javascript' : 'text/css';
    return send(res, 200, { 'Content-Type': `${type}; charset=utf-8` }, await readFile(new URL(asset[1], ASSETS)));
  }
  if (req.method === 'GET' && path.startsWith('/order/')) return order(req, res, path.slice('/order/'.length), shop);
  return json(res, 404, { error: 'not_found', message: 'Nothing here.' });
}

function shopAnswer(req, res) {
  const path = new URL(req.url, 'http://mock').pathname;
  const ticket = path.match(/^\/t\/[^/]+(\/items\/[^/]+)$/);
  if (ticket) return send(res, 303, { Location: ticket[1] }, '');
  if (path.startsWith('/items/')) {
    return send(res, 200, { 'Content-Type': 'text/html; charset=utf-8' },
      `<!doctype html><html lang=en><meta charset=utf-8><title>Shop</title><h1>${escape(path)}</h1>`);
  }
  return send(res, 404, {}, 'not found');
}

const listen = (server) => new Promise((ok) => server.listen(0, '127.0.0.1', () => ok(`http://127.0.0.1:${server.address().port}`)));
const shopServer = http.createServer(shopAnswer);
const shop = await listen(shopServer);
const receptionServer = http.createServer((req, res) => reception(req, res, shop).catch((e) => send(res, 500, {}, String(e))));
console.log(`RECEPTION ${await listen(receptionServer)}`);
console.log(`SHOP ${shop}`);

createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() === 'free') freed += 1;
}).on('close', () => {
  receptionServer.close();
  shopServer.close();
  receptionServer.closeAllConnections();
  shopServer.closeAllConnections();
});
