// Drives the countdown page of a scheduled opening in Debian's Chromium for the Rust test that
// spawns it:
//   node opening.mjs --reception <base URL> --item <item> --screenshot <path.png>
// One stdout line per step:
//   COUNTDOWN text=<shown>   the page says the sale opens soon and counts down to it
//   LANDED url=<url>         at the opening the page asked by itself and went to the shop
// A failed check prints `FAIL <reason>` on stderr and exits 1.
import { parseArgs } from 'node:util';
import { check, runInChromium } from './harness.mjs';

const OVERALL_MS = 90_000;
const TICK_MS = 2_500;
const ADMIT_MS = 60_000;

const { values: args } = parseArgs({
  options: { reception: { type: 'string' }, item: { type: 'string' }, screenshot: { type: 'string' } },
});
if (!args.reception || !args.item || !args.screenshot) {
  process.stderr.write('FAIL usage: node opening.mjs --reception <url> --item <item> --screenshot <png>\n');
  process.exit(1);
}
const reception = new URL(args.reception);
const orderUrl = new URL(`/order/${encodeURIComponent(args.item)}`, reception).href;

await runInChromium(OVERALL_MS, async (browser) => {
  const context = await browser.newContext({ viewport: { width: 430, height: 860 } });
  const page = await context.newPage();
  const problems = [];
  // Failed loads (the page's own 503, a favicon) are the browser's to report; a blocked
  // script or style, or a script error, is the page's fault.
  page.on('console', (message) => {
    if (message.text().includes('Content Security Policy')) problems.push(message.text());
  });
  page.on('pageerror', (error) => problems.push(`script error: ${error.message}`));

  const response = await page.goto(orderUrl);
  check(response?.status() === 503, `first visit answered ${response?.status()}, not 503`);
  const heading = (await page.locator('#heading').textContent()) ?? '';
  check(heading === 'The sale opens soon', `heading reads "${heading}"`);
  const opening = page.locator('#opening');
  const first = (await opening.textContent()) ?? '';
  check(/^The sale opens in \d+:\d\d\.$/.test(first), `the opening reads "${first}"`);
  await page
    .waitForFunction((shown) => document.getElementById('opening')?.textContent !== shown, first, {
      timeout: TICK_MS,
    })
    .catch(() => check(false, `countdown stuck at "${first}"`));
  await page.screenshot({ path: args.screenshot, fullPage: true, animations: 'disabled' });
  process.stdout.write(`COUNTDOWN text=${first}\n`);

  await page
    .waitForURL((url) => url.origin !== reception.origin, { timeout: ADMIT_MS })
    .catch(() => check(false, 'not let in after the opening'));
  check(problems.length === 0, `console: ${problems.join(' | ')}`);
  process.stdout.write(`LANDED url=${page.url()}\n`);
});
