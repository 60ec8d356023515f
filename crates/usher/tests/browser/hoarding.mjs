// A busy page on another site that embeds the reception's order link as an image and as a frame,
// in Debian's Chromium, for the Rust test that spawns it and serves that page:
//   node hoarding.mjs --page <the busy page's URL> --order <the order URL it embeds>
// The page comes from another loopback origin, so the browser marks both requests as cross-site
// subresources. Prints one line once the reception has answered both:
//   EMBEDDED image=<status or the browser's error> frame=<status>
// A failed check prints `FAIL <reason>` on stderr and exits 1.
import { parseArgs } from 'node:util';
import { check, runInChromium } from './harness.mjs';

const OVERALL_MS = 60_000;
const ANSWER_MS = 20_000;

const { values: args } = parseArgs({
  options: { page: { type: 'string' }, order: { type: 'string' } },
});
if (!args.page || !args.order) {
  process.stderr.write('FAIL usage: node hoarding.mjs --page <url> --order <url>\n');
  process.exit(1);
}
const orderUrl = new URL(args.order).href;

await runInChromium(OVERALL_MS, async (browser) => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const answers = new Map();
  // An image answered with JSON is cut off by the browser's opaque-response blocking after
  // the answer arrives: the status is then the failure's name.
  const answered = new Promise((done) => {
    const record = (request, outcome) => {
      if (request.url() !== orderUrl) return;
      answers.set(request.resourceType(), outcome);
      if (answers.has('image') && answers.has('document')) done();
    };
    page.on('response', (response) => record(response.request(), response.status()));
    page.on('requestfailed', (request) => {
      if (!answers.has(request.resourceType())) record(request, request.failure()?.errorText ?? 'failed');
    });
  });
  const response = await page.goto(args.page);
  check(response?.ok(), `the busy page answered ${response?.status()}`);
  const timeout = new Promise((done) => setTimeout(done, ANSWER_MS));
  await Promise.race([answered, timeout]);
  check(answers.has('image'), 'the reception never answered the image');
  check(answers.has('document'), 'the reception never answered the frame');
  process.stdout.write(`EMBEDDED image=${answers.get('image')} frame=${answers.get('document')}\n`);
});
