// Drives the reception's waiting page in Debian's Chromium for the Rust test that spawns it:
//   node waiting.mjs --reception <base URL> --item <item> --screenshot <path.png>
// One stdout line per step, which the Rust test waits for before its next move:
//   WAITING position=<n>   the page waits, counts down, keeps its place across a reload
//                          (the Rust test then frees a place at a shop)
//   LANDED url=<url> sound=<played|muted|blocked>   the page chimed and went to the shop
//   NOJS ok                without JavaScript the page reloads itself
// A failed check prints `FAIL <reason>` on stderr and exits 1.
import { parseArgs } from 'node:util';
import { Failure, check, runInChromium, shoot } from './harness.mjs';

const OVERALL_MS = 120_000;
const COUNTDOWN_MS = 2_500;
const ADMIT_MS = 60_000;
const NOJS_SLACK_MS = 5_000;

const { values: args } = parseArgs({
  options: { reception: { type: 'string' }, item: { type: 'string' }, screenshot: { type: 'string' } },
});
if (!args.reception || !args.item || !args.screenshot) {
  process.stderr.write('FAIL usage: node waiting.mjs --reception <url> --item <item> --screenshot <png>\n');
  process.exit(1);
}
const reception = new URL(args.reception);
const item = args.item;
const orderUrl = new URL(`/order/${encodeURIComponent(item)}`, reception).href;
// The server names the cookie after the item as it sees it in the path, which may be encoded.
const cookieNames = new Set([`usher-queue-${item}`, `usher-queue-${encodeURIComponent(item)}`]);

async function queueCookie(context) {
  const cookies = await context.cookies(reception.href);
  return cookies.find((c) => cookieNames.has(c.name));
}

async function shownPosition(page) {
  const position = Number(await page.locator('#room').getAttribute('data-position'));
  check(Number.isInteger(position) && position >= 1, `no position on the page (${position})`);
  const text = (await page.locator('#position').textContent()) ?? '';
  check(/You are (next|number \d+ in line)/.test(text), `position text reads "${text}"`);
  return position;
}

// Step 1 and 2: a buyer with JavaScript waits, reloads, and is let in.
async function buyerWithScript(browser) {
  const context = await browser.newContext({ viewport: { width: 430, height: 860 } });
  const page = await context.newPage();
  const problems = [];
  let chime = null; // the sound state the page reported with its chime
  let chimedBeforeLeaving = null;
  page.on('console', (message) => {
    const text = message.text();
    const reported = text.match(/^usher:chime (\w+)/);
    if (reported) chime = reported[1];
    if (text.includes('Content Security Policy')) problems.push(text);
  });
  page.on('pageerror', (error) => problems.push(`script error: ${error.message}`));
  page.on('framenavigated', (frame) => {
    if (frame === page.mainFrame() && new URL(frame.url()).origin !== reception.origin) {
      chimedBeforeLeaving ??= chime;
    }
  });

  const response = await page.goto(orderUrl);
  check(response?.status() === 503, `first visit answered ${response?.status()}, not 503`);
  const csp = response.headers()['content-security-policy'] ?? '';
  check(csp.includes("script-src 'self'"), `CSP header missing or loose: "${csp}"`);
  check((await page.locator('#status[aria-live="polite"]').count()) === 1, 'no polite live region');
  const position = await shownPosition(page);

  const before = await page.locator('#countdown').textContent();
  await page
    .waitForFunction((shown) => document.getElementById('countdown')?.textContent !== shown, before, {
      timeout: COUNTDOWN_MS,
    })
    .catch(() => check(false, `countdown stuck at "${before}"`));

  const sound = page.locator('#sound');
  await sound.click(); // the user gesture that allows the chime
  check((await sound.getAttribute('aria-pressed')) === 'true', 'sound toggle did not turn on');
  await shoot(page, args.screenshot);

  const cookie = await queueCookie(context);
  check(cookie, `no usher-queue-${item} cookie after the first visit`);
  const again = await page.reload();
  check(again?.status() === 503, `reload answered ${again?.status()}, not 503`);
  const kept = await queueCookie(context);
  check(kept?.value === cookie.value, 'the queue cookie changed on reload');
  const after = await shownPosition(page);
  check(after <= position, `position got worse on reload: ${position} -> ${after}`);
  check((await sound.getAttribute('aria-pressed')) === 'true', 'sound choice not remembered');
  await page.locator('h1').click(); // a reload loses the gesture; any click on the page restores it
  check(problems.length === 0, problems.join('; '));
  console.log(`WAITING position=${after}`);

  const itemPath = `/items/${encodeURIComponent(item)}`;
  await page
    .waitForURL((url) => url.origin !== reception.origin && url.pathname.startsWith(itemPath), {
      timeout: ADMIT_MS,
      waitUntil: 'commit',
    })
    .catch(() => check(false, `not sent to ${itemPath} on a shop within ${ADMIT_MS / 1000} s (at ${page.url()})`));
  check(chimedBeforeLeaving, 'left the waiting page without the chime');
  check(chimedBeforeLeaving !== 'muted', 'chime muted although the sound was turned on');
  check(problems.length === 0, problems.join('; '));
  console.log(`LANDED url=${page.url()} sound=${chimedBeforeLeaving}`);
  await context.close();
}

// Step 3: a buyer without JavaScript joins behind and the page reloads itself.
async function buyerWithoutScript(browser) {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  let visits = 0;
  let reloaded;
  const secondVisit = new Promise((done) => {
    reloaded = done;
  });
  const started = Date.now();
  // On stderr, for a run that fails here: when each visit was answered (this step once
  // outlived the Rust test's 90 s wait in CI, undiagnosed).
  page.on('response', (response) => {
    if (!response.request().isNavigationRequest() || response.url() !== orderUrl) return;
    visits += 1;
    process.stderr.write(`nojs: visit ${visits} answered ${response.status()} after ${Date.now() - started} ms\n`);
    if (visits === 2) reloaded();
  });

  const response = await page.goto(orderUrl);
  check(response?.status() === 503, `no-script visit answered ${response?.status()}, not 503`);
  const refresh = await page.locator('meta[http-equiv="refresh"]').getAttribute('content');
  const secs = Number(refresh);
  process.stderr.write(`nojs: the page refreshes after ${refresh} s\n`);
  check(Number.isInteger(secs) && secs >= 1, `no meta refresh without JavaScript (${refresh})`);
  const wait = secs * 1000 + NOJS_SLACK_MS;
  let timer;
  await Promise.race([
    secondVisit,
    new Promise((_, fail) => {
      timer = setTimeout(() => fail(new Failure(`page did not reload itself within ${wait / 1000} s`)), wait);
    }),
  ]).finally(() => clearTimeout(timer));
  console.log('NOJS ok');
  await context.close();
}

await runInChromium(OVERALL_MS, async (browser) => {
  await buyerWithScript(browser);
  await buyerWithoutScript(browser);
});
