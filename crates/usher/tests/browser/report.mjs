// Opens a crowd report (one self-contained HTML file) in Debian's Chromium for the Rust test that
// spawns it, with every request other than the file itself refused:
//   node report.mjs --file <report.html> --screenshot <path.png>
// Checks that each chart is drawn (an <svg> laid out at a readable size, with marks in it), that
// the page asked for nothing from the network and logged no error, then saves a full-page
// screenshot and prints one line:
//   CHARTS n=<charts> marks=<marks drawn> width=<narrowest chart, px> title=<page title>
// A failed check prints `FAIL <reason>` on stderr and exits 1.
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { check, runInChromium } from './harness.mjs';

const OVERALL_MS = 60_000;

const { values: args } = parseArgs({
  options: { file: { type: 'string' }, screenshot: { type: 'string' } },
});
if (!args.file || !args.screenshot) {
  process.stderr.write('FAIL usage: node report.mjs --file <report.html> --screenshot <png>\n');
  process.exit(1);
}
const url = pathToFileURL(args.file).href;

await runInChromium(OVERALL_MS, async (browser) => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const outside = [];
  await context.route('**/*', (route) => {
    const requested = route.request().url();
    if (requested === url) return route.continue();
    outside.push(requested);
    return route.abort();
  });
  const errors = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(String(error)));

  const response = await page.goto(url, { waitUntil: 'load' });
  check(response === null || response.ok(), `the report did not load (${response?.status()})`);
  const charts = await page.locator('svg').evaluateAll((svgs) => svgs.map((svg) => {
    const box = svg.getBoundingClientRect();
    const marks = svg.querySelectorAll('path, polyline, line, rect, circle');
    const drawn = [...marks].filter((mark) => {
      const style = getComputedStyle(mark);
      const visible = style.visibility !== 'hidden' && style.display !== 'none';
      const painted = style.stroke !== 'none' || style.fill !== 'none';
      const markBox = mark.getBBox();
      return visible && painted && (markBox.width > 0 || markBox.height > 0);
    });
    return { width: box.width, height: box.height, label: svg.getAttribute('aria-label'), drawn: drawn.length };
  }));
  check(charts.length > 0, 'the report has no chart');
  for (const chart of charts) {
    check(chart.width >= 200 && chart.height >= 80,
      `chart "${chart.label}" is laid out at ${chart.width}x${chart.height} px`);
    check(chart.drawn >= 2, `chart "${chart.label}" has ${chart.drawn} visible marks`);
  }
  check(outside.length === 0, `the report asked the network for ${outside.join(', ')}`);
  check(errors.length === 0, `the page logged errors: ${errors.join(' | ')}`);
  const title = await page.title();
  await page.screenshot({ path: args.screenshot, fullPage: true, animations: 'disabled' });
  const marks = charts.reduce((sum, chart) => sum + chart.drawn, 0);
  const width = Math.round(Math.min(...charts.map((chart) => chart.width)));
  console.log(`CHARTS n=${charts.length} marks=${marks} width=${width} title=${title}`);
  await context.close();
});
