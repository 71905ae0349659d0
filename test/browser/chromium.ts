// Headless Chromium for the browser tests: Debian's `chromium` package driven by playwright-core (which never
// downloads a browser). Such a test runs for real when CI=true (a missing browser then fails it); elsewhere it
// skips, saying why, only when there is no chromium binary.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = process.env.IRONLAB_CHROMIUM ?? '/usr/bin/chromium';
export const IN_CI = process.env.CI === 'true' || process.env.CI === '1';
export const HAVE_CHROMIUM = existsSync(CHROMIUM);

/** True when the suite must skip; says why. */
export function skipWithoutChromium(suite: string): boolean {
  const skip = !HAVE_CHROMIUM && !IN_CI;
  if (skip)
    console.warn(
      `${suite} skipped: no Chromium at ${CHROMIUM} (apt-get install chromium, or set IRONLAB_CHROMIUM); it runs for real when CI=true`,
    );
  return skip;
}

export interface OpenChromium {
  context: BrowserContext;
  page: Page;
  /** Console errors and uncaught exceptions of the page, as they come. */
  consoleErrors: string[];
  close(): Promise<void>;
}

/** A fresh profile, one page, its console errors collected. */
export async function openChromium(viewport: { width: number; height: number }): Promise<OpenChromium> {
  const userDataDir = mkdtempSync(join(tmpdir(), 'ironlab-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
      '--disable-sync',
    ],
    viewport,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const consoleErrors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => consoleErrors.push(`uncaught: ${e.message}`));
  return {
    context,
    page,
    consoleErrors,
    close: async () => {
      await context.close();
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}
