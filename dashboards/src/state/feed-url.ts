/**
 * The WebSocket URL for a dashboard page at `pageHref`.
 * - `?feed=<url or path>` overrides the endpoint (a path is resolved against the page);
 * - otherwise the feed is `<page directory>/feed` on the same host, ws:// or wss:// to match http(s);
 * - `?token=` from the page URL is forwarded as `?token=` on the WebSocket URL.
 * Relative resolution keeps the page working under any prefix (e.g. behind a reverse proxy at /captioner/).
 */
export function feedUrl(pageHref: string, defaultPath = 'feed'): string {
  const page = new URL(pageHref);
  const override = page.searchParams.get('feed');
  const target = new URL(override ?? defaultPath, page);
  if (target.protocol === 'http:') target.protocol = 'ws:';
  else if (target.protocol === 'https:') target.protocol = 'wss:';
  const token = page.searchParams.get('token');
  if (token !== null && !target.searchParams.has('token')) target.searchParams.set('token', token);
  target.hash = '';
  return target.toString();
}
