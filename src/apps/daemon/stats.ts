// The daemon's own counters, for its metrics (http.ts): control-socket requests by command,
// errors by code, failed periodic reclaims. Connections are counted by the socket server
// (server.ts) and reclaim passes by the state (state.ts); this holds what spans the protocol.
// Labels come from a closed set (the commands, NetmapError codes): a client cannot make the
// label space grow (anything else counts as 'other').
import { DAEMON_COMMANDS } from './args.js';

const CODE = /^E[A-Z0-9]{1,15}$/;
/** At most this many distinct error codes are kept apart; more count as 'other'. */
const MAX_CODES = 64;

export class DaemonCounters {
  /** Requests by command; 'invalid' for lines that were not a request (bad JSON, unknown command). */
  readonly requests = new Map<string, number>();
  /** Error replies by code (EINVAL, ENOENT...). */
  readonly errors = new Map<string, number>();
  /** Periodic reclaim passes that failed. */
  reclaimFailures = 0;

  constructor() {
    for (const c of DAEMON_COMMANDS) this.requests.set(c, 0);
    this.requests.set('invalid', 0);
  }

  request(command: string | null): void {
    const k = command !== null && this.requests.has(command) ? command : 'invalid';
    this.requests.set(k, this.requests.get(k)! + 1);
  }

  error(code: string): void {
    const k = CODE.test(code) && (this.errors.has(code) || this.errors.size < MAX_CODES) ? code : 'other';
    this.errors.set(k, (this.errors.get(k) ?? 0) + 1);
  }

  get requestsTotal(): number {
    let n = 0;
    for (const v of this.requests.values()) n += v;
    return n;
  }
}
