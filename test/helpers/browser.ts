import fs from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/** Debian's Chromium (scripts/browser.sh installs it for `npm test` as root), or HOLDFAST_CHROMIUM. */
export const chromiumPath = (): string => process.env.HOLDFAST_CHROMIUM || '/usr/bin/chromium';

/**
 * Debian's Chromium, headless, with the flags that work on these machines: no sandbox as root, and no
 * background networking, component updates or sync (the closed network refuses them, many at a time).
 * Throws when the browser is missing: a browser test must fail, never skip, without one.
 */
export async function launchChromium(): Promise<Browser> {
  const executablePath = chromiumPath();
  if (!fs.existsSync(executablePath))
    throw new Error(
      `no browser at ${executablePath}: run scripts/browser.sh as root (apt-get install chromium) or set HOLDFAST_CHROMIUM`,
    );
  // Playwright gives each launch a new, empty profile of its own (it refuses --user-data-dir here).
  return chromium.launch({
    executablePath,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
