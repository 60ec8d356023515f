// What the browser scripts share: Debian's Chromium started with the flags the project allows
// (no tool downloads a browser of its own), a deadline for the whole script, and one way to end:
// exit 0, or `FAIL <reason>` on stderr and exit 1.
import { chromium } from 'playwright-core';

export class Failure extends Error {}

export function check(ok, reason) {
  if (!ok) throw new Failure(reason);
}

// Launches Chromium, runs `steps(browser)` and exits: 0 when they finish; 1 on a failed check,
// an error, or when `overallMs` passes first. A browser that hangs on close does not keep the
// script past its deadline.
export async function runInChromium(overallMs, steps) {
  let browser = null;
  let finishing = false;
  const finish = async (code, reason) => {
    if (finishing) return;
    finishing = true;
    if (reason) process.stderr.write(`FAIL ${reason}\n`);
    await Promise.race([browser?.close(), new Promise((done) => setTimeout(done, 5_000))]).catch(() => {});
    process.exit(code);
  };
  setTimeout(() => finish(1, `not done within ${overallMs / 1000} s`), overallMs).unref();
  try {
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
        '--disable-component-update', '--disable-sync'],
    });
    await steps(browser);
    await finish(0);
  } catch (error) {
    await finish(1, error instanceof Failure ? error.message : `unexpected: ${error?.stack ?? error}`);
  }
}

// A screenshot of `page` down to just below its `<main>` card (a phone-sized viewport leaves
// half the page empty below a short card), with animations stopped.
export async function shoot(page, path) {
  const box = await page.locator('main').boundingBox();
  const width = page.viewportSize()?.width ?? 800;
  const height = box === null ? undefined : Math.ceil(box.y + box.height + box.y);
  const clip = height === undefined ? undefined : { x: 0, y: 0, width, height };
  await page.screenshot({ path, fullPage: true, clip, animations: 'disabled' });
}
