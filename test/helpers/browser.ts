// Headless Chromium for the dashboard tests: launch, sign in through the form, close what a test opened.
import { existsSync } from 'node:fs';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { createHarness, type Harness, type HarnessOptions } from './hub-harness.ts';
import { ensureUiBuilt } from './ui-build.ts';

/** Debian's Chromium unless CHROMIUM_PATH says otherwise. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** Without a Chromium the browser tests are skipped on a developer's machine, never in CI (CI installs it). */
export const NO_BROWSER = !existsSync(CHROMIUM) && !process.env.CI;
if (NO_BROWSER)
  console.warn(`[tests] no Chromium at ${CHROMIUM}: dashboard browser tests skipped (apt-get install chromium)`);

/** Launches the headless browser with background traffic off. */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-background-networking',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** Browser contexts opened by tests (closed after each test), with the messages of any dialog a page opened. */
export class BrowserSessions {
  readonly contexts: BrowserContext[] = [];
  readonly dialogs: string[] = [];

  constructor(
    private readonly browser: () => Browser,
    private readonly base: () => string,
  ) {}

  /** A fresh context (no cookies), closed by `closeAll`. */
  async context(options: { viewport?: { width: number; height: number } } = {}): Promise<BrowserContext> {
    const context = await this.browser().newContext(options);
    this.contexts.push(context);
    return context;
  }

  /** A page signed in with an API token through the sign-in form, showing the board. */
  async signedIn(token: string, viewport = { width: 1400, height: 900 }): Promise<Page> {
    const page = await (await this.context({ viewport })).newPage();
    page.on('dialog', (d) => {
      this.dialogs.push(d.message());
      void d.dismiss();
    });
    await page.goto(`${this.base()}/#/sign-in`);
    await page.getByLabel('API token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Board' }).waitFor();
    return page;
  }

  /** Closes every context opened since the last call. */
  async closeAll(): Promise<void> {
    for (const c of this.contexts.splice(0)) await c.close().catch(() => {});
  }
}

/** Tokens of the browser tests' users: alice, bob (plain users) and admin. */
export const BROWSER_TOKENS = 'alice=alice-token-1,bob=bob-token-22,admin=admin-token-333';

/** A hub with the dashboard built, and a browser to drive it. */
export interface BrowserHub {
  h: Harness;
  base: string;
  browser: Browser;
  close(): Promise<void>;
}

/** Builds the dashboard if needed, starts a hub (the browser users' tokens unless `opts.env` says otherwise) and Chromium. */
export async function startBrowserHub(opts: HarnessOptions = {}): Promise<BrowserHub> {
  await ensureUiBuilt();
  const h = await createHarness({ ...opts, env: { HUB_API_TOKENS: BROWSER_TOKENS, ...opts.env } });
  const browser = await launchBrowser();
  return {
    h,
    base: h.hub.web.url(),
    browser,
    async close() {
      await browser.close();
      await h.close();
    },
  };
}
