// Walks every page a buyer can meet, for the Rust test that spawns it:
//   node pages.mjs --reception <base URL> --shop <base URL> --item <item> --shots <dir>
// The path of a buyer (the landing page, an order, the shop's item page, a buy, the receipt)
// and the refusals on the way (an unknown item, a ticket that is not one, a shop page without
// a session, an address that does not exist). On every page: HTML, never raw JSON; a CSP; the
// one stylesheet, the same on every page; no script or policy error; and every link answers
// 2xx or 3xx. A screenshot of each in <dir>.
// One stdout line per page, `PAGE status=<n> url=<url> links=<n>`, then `DONE pages=<n>`.
// A failed check prints `FAIL <reason>` on stderr and exits 1.
import { parseArgs } from 'node:util';
import { check, runInChromium } from './harness.mjs';

const OVERALL_MS = 90_000;

const { values: args } = parseArgs({
  options: {
    reception: { type: 'string' },
    shop: { type: 'string' },
    item: { type: 'string' },
    shots: { type: 'string' },
  },
});
if (!args.reception || !args.shop || !args.item || !args.shots) {
  process.stderr.write('FAIL usage: node pages.mjs --reception <url> --shop <url> --item <item> --shots <dir>\n');
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
    await page.screenshot({ path: `${args.shots}/page-${shot}-${name}.png`, fullPage: true, animations: 'disabled' });
    check(problems.length === 0, `${url}: console: ${problems.join(' | ')}`);
    process.stdout.write(`PAGE status=${response.status()} url=${url} links=${links.length}\n`);
  };
  const visit = async (url, name) => {
    const response = await page.goto(url);
    check(response !== null, `${url}: no answer`);
    await inspect(response, name);
    return response;
  };

  // The landing page, then its order link for the item: admitted, on to the shop's item page.
  await visit(reception.href, 'landing');
  const order = page.locator(`a[href$="/order/${args.item}"]`);
  check((await order.count()) === 1, 'the landing page has no order link for the item');
  const [landed] = await Promise.all([page.waitForNavigation(), order.click()]);
  check(page.url().startsWith(shop.origin), `the order landed on ${page.url()}`);
  await inspect(landed, 'item');
  const [bought] = await Promise.all([page.waitForNavigation(), page.locator('button[type=submit]').click()]);
  check(bought.status() < 300, `the buy answered ${bought.status()}`);
  await inspect(bought, 'confirmation');
  const [receipt] = await Promise.all([page.waitForNavigation(), page.locator('a.button').first().click()]);
  await inspect(receipt, 'receipt');
  const back = page.locator('a', { hasText: 'Back to the sale' });
  check((await back.count()) === 1, 'the receipt has no way back to the sale');

  // The refusals a buyer can meet.
  await visit(new URL('/order/no-such-item', reception).href, 'unknown-item');
  await visit(new URL(`/t/not-a-ticket/items/${args.item}`, shop).href, 'not-a-ticket');
  const fresh = await browser.newContext();
  const stranger = await fresh.newPage();
  const noSession = await stranger.goto(new URL(`/items/${args.item}`, shop).href);
  check(noSession?.status() === 403, `a shop page without a session answered ${noSession?.status()}`);
  const strangerSheet = await stranger.locator('style').allTextContents();
  check(strangerSheet[0] === style, 'the no-session page has another stylesheet');
  await stranger.screenshot({ path: `${args.shots}/page-${shot + 1}-no-session.png`, fullPage: true });
  await fresh.close();
  await visit(new URL('/no/such/page', shop).href, 'shop-not-found');
  process.stdout.write(`DONE pages=${shot + 1}\n`);
});
