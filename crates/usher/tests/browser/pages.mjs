// Walks every page a buyer can meet, for the Rust test that spawns it:
//   node pages.mjs --reception <base URL> --shop <base URL> --item <item> --sold-out <item>
//                  --expired <ticket URL> --shots <dir>
// The path of a buyer (the landing page, an order, the shop's item page with its picture, a
// buy, the receipt) and every refusal on the way: the ticket used again, an unknown item, an
// item sold out, a ticket that is not one, an expired ticket, a shop page without a session,
// an address that does not exist at the shop and at the reception, and too many orders. On
// every page: HTML, never raw JSON; a CSP; the one stylesheet, the same on every page; no
// script or policy error; every link answers 2xx or 3xx, and every refusal has one (no dead
// end) and names its code. A screenshot of each in <dir>.
// One stdout line per page, `PAGE status=<n> url=<url> links=<n>`, then `DONE pages=<n>`.
// A failed check prints `FAIL <reason>` on stderr and exits 1.
import { parseArgs } from 'node:util';
import { check, runInChromium, shoot } from './harness.mjs';

const OVERALL_MS = 90_000;

const { values: args } = parseArgs({
  options: {
    reception: { type: 'string' },
    shop: { type: 'string' },
    item: { type: 'string' },
    'sold-out': { type: 'string' },
    expired: { type: 'string' },
    shots: { type: 'string' },
  },
});
if (!args.reception || !args.shop || !args.item || !args['sold-out'] || !args.expired || !args.shots) {
  process.stderr.write('FAIL usage: node pages.mjs --reception <url> --shop <url> --item <item> --sold-out <item> --expired <url> --shots <dir>\n');
  process.exit(1);
}
const reception = new URL(args.reception);
const shop = new URL(args.shop);

await runInChromium(OVERALL_MS, async (browser) => {
  const context = await browser.newContext({ viewport: { width: 430, height: 860 } });
  const page = await context.newPage();
  const problems = [];
  page.on('console', (message) => {
    // A 4xx page is a failed load to the console; that is the page's status, not a fault.
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) {
      problems.push(message.text());
    }
  });
  page.on('pageerror', (error) => problems.push(`script error: ${error.message}`));
  let style = null;
  let shot = 0;

  // Checks the page now shown (answered `response`), its links, and saves its screenshot.
  const inspect = async (response, name) => {
    const url = page.url();
    const headers = response.headers();
    const type = headers['content-type'] ?? '';
    check(type.startsWith('text/html'), `${url}: a browser got ${type}`);
    check((headers['content-security-policy'] ?? '').includes("default-src 'none'"), `${url}: no CSP`);
    const text = await page.locator('body').innerText();
    check(!text.trim().startsWith('{'), `${url}: raw JSON for a browser`);
    check((await page.locator('html').getAttribute('lang')) === 'en', `${url}: no lang`);
    check(((await page.title()) ?? '').length > 0, `${url}: no title`);
    const sheets = await page.locator('style').allTextContents();
    check(sheets.length === 1, `${url}: ${sheets.length} style elements`);
    if (style === null) style = sheets[0];
    check(sheets[0] === style, `${url}: another stylesheet`);
    const links = await page.locator('a[href]').evaluateAll((as) => as.map((a) => a.href));
    for (const link of links) {
      const answer = await page.request.get(link, { maxRedirects: 0 });
      check(answer.status() < 400, `${url}: the link ${link} answered ${answer.status()}`);
    }
    shot += 1;
    await shoot(page, `${args.shots}/page-${shot}-${name}.png`);
    check(problems.length === 0, `${url}: console: ${problems.join(' | ')}`);
    process.stdout.write(`PAGE status=${response.status()} url=${url} links=${links.length}\n`);
  };
  const visit = async (url, name) => {
    const response = await page.goto(url);
    check(response !== null, `${url}: no answer`);
    await inspect(response, name);
    return response;
  };
  // A refusal: its status, its code named on the page, and a way onward.
  const refused = async (url, name, status, code) => {
    const response = await visit(url, name);
    check(response.status() === status, `${url}: ${response.status()}, not ${status}`);
    const detail = await page.locator('code').allTextContents();
    check(detail.includes(code), `${url}: the page does not name ${code} (${detail})`);
    check((await page.locator('a[href]').count()) > 0, `${url}: a dead end (no link)`);
  };

  // The landing page, then its order link for the item: admitted, on to the shop's item page.
  await visit(reception.href, 'landing');
  const order = page.locator(`a[href$="/order/${args.item}"]`);
  check((await order.count()) === 1, 'the landing page has no order link for the item');
  const [landed] = await Promise.all([page.waitForNavigation(), order.click()]);
  check(page.url().startsWith(shop.origin), `the order landed on ${page.url()}`);
  let ticket = landed.request();
  while (ticket && !new URL(ticket.url()).pathname.startsWith('/t/')) ticket = ticket.redirectedFrom();
  check(ticket !== null, 'the order reached the shop without a ticket URL');
  const picture = await page.locator('img.picture').evaluateAll((images) => images.map((i) => i.naturalWidth));
  check(picture.length === 1 && picture[0] > 0, `the item page's picture did not load (${picture})`);
  await inspect(landed, 'item');
  const [bought] = await Promise.all([page.waitForNavigation(), page.locator('button[type=submit]').click()]);
  check(bought.status() < 300, `the buy answered ${bought.status()}`);
  await inspect(bought, 'confirmation');
  const [receipt] = await Promise.all([page.waitForNavigation(), page.locator('a.button').first().click()]);
  await inspect(receipt, 'receipt');
  const back = page.locator('a', { hasText: 'Back to the sale' });
  check((await back.count()) === 1, 'the receipt has no way back to the sale');

  // The refusals a buyer can meet.
  await refused(ticket.url(), 'used', 403, 'used');
  await refused(new URL('/order/no-such-item', reception).href, 'unknown-item', 404, 'unknown_item');
  await refused(new URL(`/order/${args['sold-out']}`, reception).href, 'sold-out', 410, 'sold_out');
  await refused(new URL(`/t/not-a-ticket/items/${args.item}`, shop).href, 'not-a-ticket', 403, 'malformed');
  await refused(args.expired, 'expired', 403, 'expired');
  const fresh = await browser.newContext();
  const stranger = await fresh.newPage();
  const noSession = await stranger.goto(new URL(`/items/${args.item}`, shop).href);
  check(noSession?.status() === 403, `a shop page without a session answered ${noSession?.status()}`);
  const strangerSheet = await stranger.locator('style').allTextContents();
  check(strangerSheet[0] === style, 'the no-session page has another stylesheet');
  await shoot(stranger, `${args.shots}/page-${shot + 1}-no-session.png`);
  await fresh.close();
  shot += 1;
  await refused(new URL('/no/such/page', shop).href, 'shop-not-found', 403, 'no_session');
  await refused(new URL('/no/such/page', reception).href, 'reception-not-found', 404, 'not_found');
  // Orders taken and not followed, as a script would, until the reception says too many; then
  // the page a browser gets for one more.
  const orderUrl = new URL(`/order/${args.item}`, reception).href;
  let status = 0;
  for (let i = 0; i < 20 && status !== 429; i += 1) {
    status = (await page.request.get(orderUrl, { maxRedirects: 0 })).status();
  }
  check(status === 429, `orders were never refused as too many (last ${status})`);
  await refused(orderUrl, 'too-many', 429, 'too_many');
  process.stdout.write(`DONE pages=${shot}\n`);
});
