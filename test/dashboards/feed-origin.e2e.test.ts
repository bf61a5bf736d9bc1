/**
 * A hostile web page in real headless Chromium tries to read the feed of a service on this machine:
 * from its own origin (a page on another site), and by DNS rebinding (evil.example resolving to
 * 127.0.0.1, so the page and the feed share an origin). Both are refused; the same page served from
 * the feed's own origin connects (the control that shows the test can tell the difference).
 * Recent Chromium also blocks public pages from reaching loopback by itself (Local Network Access);
 * that check is switched off here to stand for the browsers that lack it, so the server's own
 * checks are what is tested.
 */
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FeedServer } from '../../src/sinks/feed-server.js';
import { CHROMIUM_PATH } from './browser.js';

let browser: Browser;
let feed: FeedServer;
let port: number;

const probe = (wsUrl: string): string => `<!doctype html><script>
  window.result = new Promise((res) => {
    const ws = new WebSocket(${JSON.stringify(wsUrl)});
    ws.onmessage = (e) => res('message ' + JSON.parse(e.data).type);
    ws.onerror = () => res('error');
    ws.onclose = (e) => res('closed ' + e.code);
  });
</script>`;

/** Serves `html` at `pageUrl` inside the browser (no server needed) and returns what the page's WebSocket got. */
async function attempt(pageUrl: string, wsUrl: string): Promise<string> {
  const page: Page = await browser.newPage();
  try {
    await page.route(pageUrl, (route) => route.fulfill({ status: 200, contentType: 'text/html', body: probe(wsUrl) }));
    await page.goto(pageUrl);
    return await page.evaluate(() => (window as unknown as { result: Promise<string> }).result);
  } finally {
    await page.close();
  }
}

beforeAll(async () => {
  feed = await FeedServer.start({ port: 0, statsIntervalMs: 0 });
  port = feed.address().port;
  browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run', '--host-resolver-rules=MAP evil.example 127.0.0.1',
      '--disable-features=LocalNetworkAccessChecks,BlockInsecurePrivateNetworkRequests,PrivateNetworkAccessSendPreflights',
    ],
  });
});

afterAll(async () => {
  await browser?.close();
  await feed?.close();
});

describe('the feed refuses hostile pages (real Chromium)', () => {
  it('a page on another site cannot open the feed', async () => {
    expect(await attempt('http://evil.example/', `ws://127.0.0.1:${port}/`)).toBe('error');
  });

  it('DNS rebinding does not help: evil.example:port resolving to 127.0.0.1 is refused by Host', async () => {
    expect(await attempt(`http://evil.example:${port}/page`, `ws://evil.example:${port}/`)).toBe('error');
  });

  it('the same page from the feed\'s own origin gets hello (control)', async () => {
    expect(await attempt(`http://127.0.0.1:${port}/page`, `ws://127.0.0.1:${port}/`)).toBe('message hello');
    expect(await attempt(`http://localhost:${port}/page`, `ws://localhost:${port}/`)).toBe('message hello');
  });
});
