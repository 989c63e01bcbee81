// The HTTP server's own figures (server.ts), for /metrics and /api/http: requests by path class
// and status code, requests refused and why, how scrapes were served (built or from the shared
// snapshot) and what building one cost. Plain counters the server bumps; the prom-client
// objects live here once (not per scrape) and are registered into each scrape's registry.
//
//   nmts_http_requests_total{path,code}      counter   path: metrics, api, stream, dashboard, unknown
//   nmts_http_refused_total{reason}          counter   oversized, slow, bad_request, method,
//                                                      too_many_connections, too_many_streams
//   nmts_http_scrapes_total{result}          counter   built (read the files, made the text) | cached
//   nmts_http_scrape_duration_seconds        histogram what building one scrape cost (read + text)
//   nmts_http_connections, nmts_http_streams gauge     open now
// Label values come from closed sets: a client cannot make the label space grow.
import { Counter, Gauge, Histogram, type Metric, type Registry } from 'prom-client';

export const PATH_CLASSES = ['metrics', 'api', 'stream', 'dashboard', 'unknown'] as const;
export type PathClass = typeof PATH_CLASSES[number];
export const REFUSALS = ['oversized', 'slow', 'bad_request', 'method', 'too_many_connections', 'too_many_streams'] as const;
export type Refusal = typeof REFUSALS[number];

/** The class of a request path (a closed set, for the labels). */
export function pathClass(path: string): PathClass {
  if (path === '/metrics') return 'metrics';
  if (path === '/api/stream') return 'stream';
  if (path.startsWith('/api/')) return 'api';
  return 'unknown';
}

/** Upper bounds of the scrape-duration histogram, seconds. */
const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

export interface HttpStatsView {
  requests: Record<string, Record<string, number>>;
  refused: Record<Refusal, number>;
  scrapes: { built: number; cached: number };
  /** Building one scrape: count, total and last seconds. */
  scrapeSeconds: { count: number; sum: number; last: number };
  connections: number;
  streams: number;
}

export class HttpStats {
  /** path class -> status code -> requests. */
  private readonly requests = new Map<PathClass, Map<number, number>>();
  readonly refused: Record<Refusal, number> = { oversized: 0, slow: 0, bad_request: 0, method: 0, too_many_connections: 0, too_many_streams: 0 };
  readonly scrapes = { built: 0, cached: 0 };
  private durCount = 0;
  private durSum = 0;
  private durLast = 0;
  private readonly metrics: { registerInto(reg: Registry): void };

  constructor(private readonly live: () => { connections: number; streams: number }) {
    const registers: Registry[] = [];
    const requests = new Counter({
      name: 'nmts_http_requests_total', help: 'HTTP requests answered, by path class (metrics, api, stream, dashboard, unknown) and status code.',
      labelNames: ['path', 'code'] as const, registers,
      collect: () => { requests.reset(); for (const [p, m] of this.requests) for (const [c, n] of m) requests.inc({ path: p, code: String(c) }, n); },
    });
    const refused = new Counter({
      name: 'nmts_http_refused_total', help: 'HTTP requests refused: oversized (body, URL or headers too big), slow (not complete in time), bad_request, method (not GET/HEAD), too_many_connections, too_many_streams.',
      labelNames: ['reason'] as const, registers,
      collect: () => { refused.reset(); for (const r of REFUSALS) refused.inc({ reason: r }, this.refused[r]); },
    });
    const scrapes = new Counter({
      name: 'nmts_http_scrapes_total', help: 'Scrapes of /metrics: built (the shared files read and the text made) or cached (served the text of the last snapshot).',
      labelNames: ['result'] as const, registers,
      collect: () => { scrapes.reset(); scrapes.inc({ result: 'built' }, this.scrapes.built); scrapes.inc({ result: 'cached' }, this.scrapes.cached); },
    });
    const duration = new Histogram({ name: 'nmts_http_scrape_duration_seconds', help: 'What building one scrape cost: reading the shared files and making the Prometheus text.', buckets: BUCKETS, registers });
    const conns = new Gauge({ name: 'nmts_http_connections', help: 'HTTP connections open now.', registers, collect: () => { conns.set(this.live().connections); } });
    const streams = new Gauge({ name: 'nmts_http_streams', help: 'Event streams (/api/stream) open now.', registers, collect: () => { streams.set(this.live().streams); } });
    this.observe = (s) => duration.observe(s);
    this.metrics = {
      registerInto: (reg) => { for (const m of [requests, refused, scrapes, duration, conns, streams] as Metric<string>[]) reg.registerMetric(m); },
    };
  }

  private readonly observe: (seconds: number) => void;

  request(path: PathClass, code: number): void {
    let m = this.requests.get(path);
    if (!m) this.requests.set(path, m = new Map());
    m.set(code, (m.get(code) ?? 0) + 1);
  }

  refuse(reason: Refusal): void {
    this.refused[reason]++;
  }

  built(seconds: number): void {
    this.scrapes.built++;
    this.durCount++;
    this.durSum += seconds;
    this.durLast = seconds;
    this.observe(seconds);
  }

  /** Add these metrics to a scrape's registry. */
  registerInto(reg: Registry): void {
    this.metrics.registerInto(reg);
  }

  view(): HttpStatsView {
    const requests: Record<string, Record<string, number>> = {};
    for (const [p, m] of this.requests) requests[p] = Object.fromEntries([...m].map(([c, n]) => [String(c), n]));
    return {
      requests, refused: { ...this.refused }, scrapes: { ...this.scrapes },
      scrapeSeconds: { count: this.durCount, sum: this.durSum, last: this.durLast },
      ...this.live(),
    };
  }
}
