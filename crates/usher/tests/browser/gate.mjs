// A buyer's whole path through `usher gate` to a shop that knows nothing of usher (the example
// Python shop), in Debian's Chromium, for the Rust test that spawns it:
//   node gate.mjs --reception <base URL> --gate <base URL> --item <item> --screenshot <path.png>
// One stdout line per step, which the Rust test checks before its next move:
//   LANDED url=<url> session=<id> redirects=<n>   the order link led, by the reception's and the
//                          gate's redirects, to the shop's own item page, with a Buy button
//   BOUGHT status=<code> order=<id>   the Buy button's answer: the receipt page
//   RECEIPT url=<url>      the receipt's own link opened (an open path at the gate)
//   CLEAN console=0 pageerrors=0 failed=0 stylesheets=<n> complete-headers=0 addresses=<n>
//         favicon=<statuses|none>   nothing went wrong on the way, the shop's stylesheet came
//                          through the gate, and the gate's completion header never reached the
//                          browser. The browser's own /favicon.ico requests are left out of the
//                          console errors (the shop has no icon; the gate refuses a path that is
//                          neither an item's nor open) and reported as their statuses.
// A failed check prints `FAIL <reason>` on stderr and exits 1.
import { parseArgs } from 'node:util';
import { check, runInChromium } from './harness.mjs';

const OVERALL_MS = 90_000;
const STEP_MS = 20_000;

const { values: args } = parseArgs({
  options: {
    reception: { type: 'string' },
    gate: { type: 'string' },
    item: { type: 'string' },
    screenshot: { type: 'string' },
  },
});
if (!args.reception || !args.gate || !args.item || !args.screenshot) {
  process.stderr.write(
    'FAIL usage: node gate.mjs --reception <url> --gate <url> --item <item> --screenshot <png>\n');
  process.exit(1);
}
const item = args.item;
const orderUrl = new URL(`/order/${encodeURIComponent(item)}`, args.reception).href;
const gate = new URL(args.gate);
const itemUrl = new URL(`/${item}`, gate).href;
const styleUrl = new URL('/static/style.css', gate).href;
const faviconUrl = new URL('/favicon.ico', gate).href;

await runInChromium(OVERALL_MS, async (browser) => {
  const context = await browser.newContext({ viewport: { width: 720, height: 640 } });
  context.setDefaultTimeout(STEP_MS);
  context.setDefaultNavigationTimeout(STEP_MS);
  const page = await context.newPage();

  // Everything that could go wrong quietly, gathered from the first request on.
  const consoleErrors = [];
  const pageErrors = [];
  const failed = [];
  const completeHeaders = [];
  const stylesheets = [];
  const addresses = []; // every address the tab committed to, in order
  const headerChecks = [];
  const favicons = []; // the browser asks for /favicon.ico by itself; the shop has none
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    const where = message.location().url;
    if (where === faviconUrl) favicons.push(message.text().match(/status of (\d+)/)?.[1] ?? '?');
    else consoleErrors.push(`${message.text()} (${where})`);
  });
  page.on('pageerror', (error) => pageErrors.push(error.message));
  page.on('requestfailed', (request) =>
    failed.push(`${request.url()}: ${request.failure()?.errorText}`));
  page.on('response', (response) => {
    // Every response, redirects included: the gate must strip the completion header from each.
    headerChecks.push(response.allHeaders().then((headers) => {
      if ('usher-order-complete' in headers) completeHeaders.push(response.url());
    }));
    if (response.url() === styleUrl) stylesheets.push(response.status());
  });
  page.on('framenavigated', (frame) => {
    if (frame === page.mainFrame()) addresses.push(frame.url());
  });

  // The order link: the reception's 303 to the gate's ticket URL, the gate's 303 to the shop's path.
  const landed = await page.goto(orderUrl);
  check(landed?.status() === 200,
    `${landed?.url()} answered ${landed?.status()}: ${(await landed?.text())?.slice(0, 600)}`);
  const redirects = [];
  for (let r = landed.request().redirectedFrom(); r; r = r.redirectedFrom()) redirects.unshift(r);
  check(redirects.length === 2, `${redirects.length} redirects: ${redirects.map((r) => r.url())}`);
  check(redirects[0].url() === orderUrl, `first request ${redirects[0].url()}`);
  const claim = new URL(redirects[1].url());
  check(claim.origin === gate.origin && /^\/t\/[^/]+\/items\//.test(claim.pathname),
    `the reception sent the browser to ${claim.href}, not a ticket URL at the gate`);
  for (const r of redirects) {
    const status = (await r.response())?.status();
    check(status === 303, `${r.url()} answered ${status}, not 303`);
  }
  check(page.url() === itemUrl, `landed on ${page.url()}, not ${itemUrl}`);

  // The shop's own page, with the shop's look.
  const title = (await page.locator('h1').textContent())?.trim() ?? '';
  check(title.toLowerCase().includes(item), `the page's heading reads "${title}"`);
  const buy = page.getByRole('button', { name: 'Buy now' });
  check(await buy.isVisible(), 'no Buy now button on the item page');
  check(await buy.isEnabled(), 'the Buy now button is disabled');
  const session = (await page.locator('#usher-session').textContent())?.trim() ?? '';
  check(/^[0-9a-f]{32}$/.test(session), `the shop saw session "${session}"`);
  const usherItem = (await page.locator('#usher-item').textContent())?.trim();
  check(usherItem === item, `the shop saw usher-item "${usherItem}"`);
  const styled = await page.evaluate(() => getComputedStyle(document.body).maxWidth);
  check(styled === '576px', `the stylesheet is not applied (body max-width ${styled})`);
  process.stdout.write(`LANDED url=${page.url()} session=${session} redirects=${redirects.length}\n`);

  // Buy: the shop answers the form's POST with the receipt page itself.
  const [bought] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && r.request().isNavigationRequest()),
    buy.click(),
  ]);
  await page.waitForLoadState('load');
  check(bought.url() === `${itemUrl}/buy`, `the form posted to ${bought.url()}`);
  check(bought.status() === 201, `the buy answered ${bought.status()}, not 201`);
  const type = (await bought.allHeaders())['content-type'] ?? '';
  check(type.startsWith('text/html'), `the buy answered ${type}, not a page`);
  const thanks = (await page.locator('h1').textContent())?.trim();
  check(thanks === 'Thank you!', `the receipt page's heading reads "${thanks}"`);
  const order = (await page.locator('strong').first().textContent())?.trim().replace(/^#/, '');
  check(/^\d+$/.test(order ?? ''), `no order number on the receipt page ("${order}")`);
  await page.screenshot({ path: args.screenshot, fullPage: true, animations: 'disabled' });
  process.stdout.write(`BOUGHT status=${bought.status()} order=${order}\n`);

  // The receipt's own link: an open path, so it works after the order ended the session.
  const link = page.getByRole('link', { name: 'Keep this receipt' });
  const [receipt] = await Promise.all([page.waitForNavigation(), link.click()]);
  const receiptUrl = new URL(`/receipts/${order}`, gate).href;
  check(receipt?.status() === 200, `the receipt link answered ${receipt?.status()}`);
  check(page.url() === receiptUrl, `the receipt link led to ${page.url()}, not ${receiptUrl}`);
  check((await page.locator('strong').first().textContent())?.trim() === `#${order}`,
    'the receipt shows another order');
  check(!(await page.content()).includes(session), 'the receipt shows the session');
  process.stdout.write(`RECEIPT url=${page.url()}\n`);

  await Promise.all(headerChecks);
  check(consoleErrors.length === 0, `console errors: ${consoleErrors.join(' | ')}`);
  check(pageErrors.length === 0, `page errors: ${pageErrors.join(' | ')}`);
  check(failed.length === 0, `failed requests: ${failed.join(' | ')}`);
  check(completeHeaders.length === 0, `usher-order-complete reached the browser: ${completeHeaders}`);
  check(stylesheets.length >= 1 && stylesheets.every((s) => s === 200),
    `the stylesheet through the gate answered ${stylesheets.join(', ') || 'nothing'}`);
  const expected = [itemUrl, `${itemUrl}/buy`, receiptUrl];
  check(addresses.join(' ') === expected.join(' '),
    `the address bar showed ${addresses.join(', ')}, not ${expected.join(', ')}`);
  check(addresses.every((a) => !a.includes('/t/')), `a ticket in the address bar: ${addresses}`);
  process.stdout.write(`CLEAN console=0 pageerrors=0 failed=0 stylesheets=${stylesheets.length} `
    + `complete-headers=0 addresses=${addresses.length} favicon=${favicons.join(',') || 'none'}\n`);
});
