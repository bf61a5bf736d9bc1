import { networkInterfaces, hostname } from 'node:os';
import type { IncomingMessage } from 'node:http';

/**
 * Who may talk to the feed server. Threat: a web page from anywhere, open in the user's browser,
 * tries to read the feed (captions, thumbnails) or use POST /caption and /metrics of a service on
 * the user's machine. Browsers let any page open a WebSocket to any address and send a cross-origin
 * POST; they always send the page's Origin, and with DNS rebinding (evil.example resolving to
 * 127.0.0.1) the request carries Host: evil.example. So, token or not:
 *  - the Host header must name this server: a loopback name, the bound address, the machine's own
 *    addresses and host name when bound to all interfaces, or a name in `allowHosts`;
 *  - a request carrying an Origin (every browser request that matters here) must come from this
 *    server's own origin (scheme://host:port where host passes the Host check and port is ours) or
 *    be listed in `allowOrigins`. Clients that are not browsers send no Origin and are let through
 *    (the token, when set, is what keeps them out).
 */
export interface OriginPolicyOptions {
  /** Bound interface address (127.0.0.1, ::, 0.0.0.0, a name...). */
  host: string;
  /** The port actually listened on. */
  port: () => number;
  /** Extra Host names served (e.g. the name of a reverse proxy in front). */
  allowHosts?: string[];
  /** Extra origins (scheme://host[:port]) whose pages may connect, e.g. a dashboard served elsewhere. */
  allowOrigins?: string[];
}

const LOOPBACK = ['localhost', '127.0.0.1', '::1'];
const WILDCARD = new Set(['0.0.0.0', '::', '']);

/** True for addresses that only this machine can reach. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\./.test(h);
}

/** A Host header or URL host without port and brackets, lower-cased; undefined when malformed. */
function hostName(hostHeader: string | undefined): string | undefined {
  if (!hostHeader) return undefined;
  try {
    return new URL(`http://${hostHeader}`).hostname.replace(/^\[|\]$/g, '').toLowerCase();
  } catch {
    return undefined;
  }
}

export class OriginPolicy {
  private readonly names: Set<string>;
  private readonly origins: Set<string>;

  constructor(private readonly o: OriginPolicyOptions) {
    const bound = o.host.replace(/^\[|\]$/g, '').toLowerCase();
    const names = [...LOOPBACK, ...(o.allowHosts ?? [])];
    if (WILDCARD.has(bound)) {
      names.push(hostname());
      for (const addrs of Object.values(networkInterfaces())) for (const a of addrs ?? []) names.push(a.address);
    } else {
      names.push(bound);
    }
    this.names = new Set(names.map((n) => n.toLowerCase()));
    this.origins = new Set((o.allowOrigins ?? []).map(normaliseOrigin));
  }

  /** Why the request is refused, or undefined when it may proceed. */
  refusal(req: IncomingMessage): string | undefined {
   
    const host = hostName(req.headers.host);
    if (host === undefined || !this.names.has(host)) {
      return `Host ${JSON.stringify(req.headers.host ?? '')} is not served here (add it with --allow-host if a proxy forwards it)`;
    }
    const origin = req.headers.origin;
    if (origin === undefined) return undefined;
    if (this.origins.has(normaliseOrigin(origin)) || this.sameServer(origin)) return undefined;
    return `Origin ${JSON.stringify(origin)} may not use this feed (add it with --allow-origin to let its pages connect)`;
  }

  private sameServer(origin: string): boolean {
    let u: URL;
    try {
      u = new URL(origin);
    } catch {
      return false;
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return false;
    const port = u.port === '' ? (u.protocol === 'https:' ? 443 : 80) : Number(u.port);
    return this.names.has(u.hostname.replace(/^\[|\]$/g, '').toLowerCase()) && port === this.o.port();
  }
}

function normaliseOrigin(o: string): string {
  try {
    return new URL(o).origin.toLowerCase();
  } catch {
    return o.trim().toLowerCase();
  }
}
