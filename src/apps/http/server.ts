// The read-only HTTP side of netmap-ts: Prometheus metrics, a JSON API and a live stream of
// per-port rates, from a provider of snapshots (the shared files today, the daemon's state
// later). Nothing here changes anything: changes stay on the daemon's Unix control socket.
//
//   GET /               the live dashboard (static.ts: dashboard/ and uPlot's files)
//   GET /metrics        Prometheus text (apps/metrics/prometheus.ts; VXLAN ports: vxlan-metrics.ts)
//   GET /api/switches   switches: name, file, lookup, RSS, learned MACs, port count
//   GET /api/ports      every port's counters and rings, with rates since the previous sample
//   GET /api/macs       every switch's learned MACs and the port index each was seen on
//   GET /api/vxlan      VXLAN ports: configuration, counters, forwarding table (metrics/vxlan-metrics.ts)
//   GET /api/stream     Server-Sent Events: one `rates` event per interval (1 s)
//   GET /api/http       this server's own figures (stats.ts): requests, refusals, scrapes
//   GET /api/<extra>    what the provider adds (the daemon: interfaces, VMs)
// Anything else: 404; a method other than GET/HEAD: 405; a request with a body: 413.
//
// Limits, because the server faces whatever can reach its address (loopback by default):
// headers must arrive within headersTimeoutMs and the request within requestTimeoutMs (the
// connection is cut otherwise), headers are capped at maxHeaderBytes, URLs at 2 KiB, streams
// at maxStreams (a stream client that leaves 1 MiB unread is cut off), connections at
// maxConnections. Snapshots are shared by the requests of cacheMs, so a burst of scrapes
// reads the shared files once, lock-free (vale/metrics.ts): the data path never waits for a
// scrape. What is served from a snapshot is made once per snapshot too: the Prometheus text,
// each JSON body (/api/switches, /api/ports, /api/macs, the provider's extras) and the stream's
// event, so N clients in one interval cost one read and one serialization, not N.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { portRates, readMacTables, type MetricsSnapshot } from '../../vale/metrics.js';
import { exposition } from '../metrics/prometheus.js';
import { addVxlanMetrics, vxlanView } from '../metrics/vxlan-metrics.js';
import { staticFile, STATIC_FILES } from './static.js';
import { DEFAULT_HTTP_PORT } from './listen.js';
import { HttpStats, pathClass, type PathClass, type Refusal } from './stats.js';

export { DEFAULT_HTTP_PORT, parseListen } from './listen.js';

/** Where the figures come from. */
export interface MetricsProvider {
  /** A fresh snapshot (readMetrics() for the shared files). */
  snapshot(): MetricsSnapshot;
  /** Add the provider's own metrics to each scrape (the daemon: connections, requests...). */
  extendRegistry?(registry: Registry): void;
  /** More JSON endpoints: /api/<name> answers extras[name](). */
  extras?: Record<string, () => unknown>;
}

export interface HttpOptions {
  /** Address to bind (default 127.0.0.1). */
  host?: string;
  /** Port (default 9180; 0 picks a free one). */
  port?: number;
  /** Interval of the rates stream and of the samples rates are computed from (default 1000 ms). */
  intervalMs?: number;
  /** How long a snapshot serves requests (default 250 ms). */
  cacheMs?: number;
  headersTimeoutMs?: number;
  requestTimeoutMs?: number;
  maxHeaderBytes?: number;
  maxStreams?: number;
  maxConnections?: number;
}

export interface MetricsServer {
  /** http://host:port */
  readonly url: string;
  readonly port: number;
  /** Open event streams. */
  streams(): number;
  /** The server's own counters (also in /metrics and /api/http). */
  readonly stats: HttpStats;
  close(): Promise<void>;
}

const MAX_URL = 2048;
/** Bytes of events a stream client may leave unread before it is cut off. */
const MAX_STREAM_BACKLOG = 1 << 20;

export async function startMetricsServer(provider: MetricsProvider, opts: HttpOptions = {}): Promise<MetricsServer> {
  const intervalMs = opts.intervalMs ?? 1000;
  const cacheMs = opts.cacheMs ?? 250;
  const maxStreams = opts.maxStreams ?? 32;
  const headersTimeout = opts.headersTimeoutMs ?? 5000;
  const requestTimeout = opts.requestTimeoutMs ?? 10000;

  // ---- snapshots: one read serves cacheMs of requests; rates against a sample >= interval older
  let cur: MetricsSnapshot | null = null, prev: MetricsSnapshot | null = null;
  let openConnections = 0;
  const stats = new HttpStats(() => ({ connections: openConnections, streams: streams.size }));
  const snapshot = (): MetricsSnapshot => {
    const now = performance.now();
    if (cur && now - cur.mono < cacheMs) return cur;
    const next = provider.snapshot();
    if (!prev || !cur || next.mono - cur.mono >= intervalMs * 0.9 || next.mono - prev.mono >= 2 * intervalMs) prev = cur;
    cur = next;
    return cur;
  };
  // the text of a snapshot is made once (prom-client needs ~0.2 ms per port): concurrent scrapes share it
  // (kept as bytes: a body with a content-length goes out in one write, where a string body
  // is sent chunked, which costs the server about twice the CPU per request)
  let textOf: MetricsSnapshot | null = null, text: Promise<{ body: Buffer; contentType: string }> | null = null;
  const extend = (reg: Registry): void => {
    addVxlanMetrics(reg);
    provider.extendRegistry?.(reg);
    stats.registerInto(reg);
  };
  const scrape = (): Promise<{ body: Buffer; contentType: string }> => {
    const t0 = performance.now();
    const s = snapshot();
    if (s !== textOf || !text) {
      textOf = s;
      text = exposition(s, extend).then((e) => ({ body: Buffer.from(e.text), contentType: e.contentType }));
      text.then(() => stats.built((performance.now() - t0) / 1000), () => { if (textOf === s) textOf = null; });
    } else {
      stats.scrapes.cached++;
    }
    return text;
  };
  // JSON bodies, each made once per snapshot (or per cacheMs for what is not in the snapshot)
  // (kept as bytes, so a request costs no string encoding)
  const bodies = new Map<string, { of: unknown; at: number; body: Buffer; text: string }>();
  const cachedEntry = (key: string, of: unknown, make: () => unknown): { body: Buffer; text: string } => {
    const now = performance.now();
    const b = bodies.get(key);
    if (b && b.of === of && now - b.at < cacheMs) return b;
    const text = JSON.stringify(make());
    const entry = { of, at: now, body: Buffer.from(text), text };
    bodies.set(key, entry);
    return entry;
  };
  const cachedBody = (key: string, of: unknown, make: () => unknown): Buffer => cachedEntry(key, of, make).body;
  /** A JSON body made from the current snapshot (shared by every request of its interval). */
  const fromSnapshot = (key: string, make: (s: MetricsSnapshot) => unknown): Buffer => {
    const s = snapshot();
    return cachedBody(key, s, () => make(s));
  };

  // ---- the event stream: one timer for every client, running while there are clients
  const streams = new Set<ServerResponse>();
  let timer: NodeJS.Timeout | null = null;
  const tick = (): void => {
    let data: string;
    try {
      const s = snapshot();
      data = cachedEntry('stream', s, () => ({ time: s.time, ports: portRates(prev, s) })).text;
    } catch (e) {
      data = JSON.stringify({ error: (e as Error).message });
    }
    for (const res of streams) {
      // a client that stopped reading is dropped rather than buffered for (hours)
      if (res.writableLength > MAX_STREAM_BACKLOG) res.destroy();
      else res.write(`event: rates\ndata: ${data}\n\n`);
    }
  };
  const openStream = (req: IncomingMessage, res: ServerResponse): void => {
    if (streams.size >= maxStreams) {
      stats.refuse('too_many_streams');
      return send(res, 503, { error: `too many streams (at most ${maxStreams})` }, req);
    }
    if (req.method === 'HEAD') { res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' }); res.end(); return; }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
    res.write(`retry: ${Math.max(1000, intervalMs)}\n\n`);
    streams.add(res);
    req.socket.setTimeout(0);
    const gone = (): void => {
      streams.delete(res);
      if (streams.size === 0 && timer) { clearInterval(timer); timer = null; }
    };
    res.once('close', gone);
    if (!timer) timer = setInterval(tick, intervalMs);
  };

  const routes: Record<string, (req: IncomingMessage, res: ServerResponse) => void | Promise<void>> = {
    '/metrics': async (req, res) => {
      const { body, contentType } = await scrape();
      res.writeHead(200, ['content-type', contentType, 'content-length', String(body.length), 'cache-control', 'no-store']);
      res.end(req.method === 'HEAD' ? undefined : body);
    },
    '/api/switches': (req, res) => sendText(res, 200, fromSnapshot('switches', (s) => ({
      time: s.time,
      switches: s.switches.map((w) => ({ name: w.name, file: w.file, lookup: w.lookup, rss: w.rss, learnedMacs: w.learnedMacs, ports: w.ports.map((p) => p.port) })),
      skipped: s.skipped, problems: s.problems,
    })), req),
    '/api/ports': (req, res) => sendText(res, 200, fromSnapshot('ports', (s) => {
      const byName = new Map(portRates(prev, s).map((x) => [`${x.switch}\0${x.port}`, x]));
      return {
        time: s.time,
        ports: s.switches.flatMap((w) => w.ports.map((p) => ({ ...p, rates: byName.get(`${w.name}\0${p.port}`) }))),
        skipped: s.skipped, problems: s.problems,
      };
    }), req),
    '/api/macs': (req, res) => sendText(res, 200, cachedBody('macs', null, readMacTables), req),
    '/api/vxlan': (req, res) => sendText(res, 200, cachedBody('vxlan', null, vxlanView), req),
    '/api/http': (req, res) => send(res, 200, { time: Date.now(), ...stats.view() }, req),
    '/api/stream': openStream,
  };
  for (const path of Object.keys(STATIC_FILES)) {
    routes[path] = (req, res) => {
      const f = staticFile(path)!;
      res.writeHead(200, {
        'content-type': f.type, 'content-length': f.body.length, 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff',
        // the page runs nothing but its own files and talks to nothing but this server
        'content-security-policy': "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
      });
      res.end(req.method === 'HEAD' ? undefined : f.body);
    };
  }
  for (const [name, fn] of Object.entries(provider.extras ?? {})) {
    if (/^[a-z][a-z0-9-]*$/.test(name) && !routes[`/api/${name}`]) routes[`/api/${name}`] = (req, res) => sendText(res, 200, cachedBody(`extra:${name}`, null, fn), req);
  }

  const server = createServer({
    headersTimeout, requestTimeout,
    maxHeaderSize: opts.maxHeaderBytes ?? 8192,
    connectionsCheckingInterval: Math.max(100, Math.min(headersTimeout, requestTimeout) / 4),
  }, (req, res) => {
    const method = req.method ?? '';
    const url = req.url ?? '';
    const path = url.length > MAX_URL ? '' : url.split('?')[0];
    const cls: PathClass = STATIC_FILES[path] ? 'dashboard' : routes[path] ? pathClass(path) : 'unknown';
    res.once('close', () => stats.request(cls, res.statusCode)); // (a stream ends with 'close' only)
    const refuse = (reason: Refusal, status: number, error: string): void => { stats.refuse(reason); send(res, status, { error }, req, true); };
    if (url.length > MAX_URL) return refuse('oversized', 414, `URL longer than ${MAX_URL} bytes`);
    if (method !== 'GET' && method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return refuse('method', 405, `${method.slice(0, 16)}: this server is read-only (GET, HEAD); changes go through the control socket`);
    }
    if ((req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0') || req.headers['transfer-encoding'] !== undefined) {
      return refuse('oversized', 413, 'a request here has no body');
    }
    const route = routes[path];
    if (!route) return send(res, 404, { error: `no ${path.slice(0, 200)} here`, paths: Object.keys(routes) }, req);
    const failed = (e: unknown): void => {
      if (!res.headersSent) send(res, 500, { error: (e as Error).message }, req);
      else res.destroy();
    };
    try {
      const done = route(req, res); // most routes answer at once; /metrics may wait for its text
      if (done) done.catch(failed);
    } catch (e) {
      failed(e);
    }
  });
  server.maxConnections = opts.maxConnections ?? 1024;
  server.on('connection', (socket) => { openConnections++; socket.once('close', () => { openConnections--; }); });
  server.on('drop', () => stats.refuse('too_many_connections'));
  server.on('clientError', (err, socket) => {
    // oversized headers (431), a timeout (408) or garbage (400): answer if possible, then cut
    const code = (err as NodeJS.ErrnoException).code;
    const status = code === 'HPE_HEADER_OVERFLOW' ? 431 : code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    // a connection that closes idle between requests is no refusal
    if (code !== 'ECONNRESET') stats.refuse(status === 431 ? 'oversized' : status === 408 ? 'slow' : 'bad_request');
    if (socket.writable) socket.end(`HTTP/1.1 ${status} ${status === 431 ? 'Request Header Fields Too Large' : status === 408 ? 'Request Timeout' : 'Bad Request'}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
    socket.destroy();
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? DEFAULT_HTTP_PORT, opts.host ?? '127.0.0.1', () => { server.off('error', reject); resolve(); });
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${host}:${addr.port}`,
    port: addr.port,
    streams: () => streams.size,
    stats,
    close: () => new Promise<void>((resolve) => {
      if (timer) { clearInterval(timer); timer = null; }
      for (const res of streams) res.end();
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

function send(res: ServerResponse, status: number, body: unknown, req: IncomingMessage, close = false): void {
  sendText(res, status, JSON.stringify(body), req, close);
}

function sendText(res: ServerResponse, status: number, text: string | Buffer, req: IncomingMessage, close = false): void {
  const body = typeof text === 'string' ? Buffer.from(text) : text;
  // headers as one flat list: node:http writes it without building a header object
  const headers = ['content-type', 'application/json', 'content-length', String(body.length), 'cache-control', 'no-store'];
  if (close) headers.push('connection', 'close');
  res.writeHead(status, headers);
  res.end(req.method === 'HEAD' ? undefined : body);
}
