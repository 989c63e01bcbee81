// The nmts daemon as a library: it holds persistent ports (and so their switches and shared
// files) open on behalf of clients that come and go, keeps Linux interfaces attached to VALE
// switches (a forwarder thread each: vale-attach/), answers a newline-delimited JSON
// protocol on a Unix socket, reclaims ports of dead processes every reclaimIntervalMs, and on
// close() detaches every interface, releases every port it holds (the files it created go
// away once empty) and removes its socket. `nmts daemon` (src/cli/daemon.ts) runs it in the
// foreground; docs/daemon.md describes the protocol. This file puts the pieces together:
//   server.ts  the Unix socket: listen, permissions, lines in, replies out, connection limits
//   args.ts    the protocol: request and argument validation, error codes
//   state.ts   held ports, attachments, reclaim: one method per request, and a read-only view
//   client.ts  the client side (daemonRequest, daemonCall)
//   socket.ts  where the socket lives and whether a client trusts it
//   http.ts    with the `http` option: the read-only HTTP server's daemon side (metrics of the
//              daemon and its attached interfaces, /api/interfaces); stats.ts counts requests
// and keeps what spans them: the command table, exit-when-idle, the reclaim timer, close().
import { NetmapError } from '../../index.js';
import { SHM_DIR, regionPath } from '../../core/shm.js';
import { defaultSocketPath } from './socket.js';
import {
  boolArg, confArg, entryArg, stringArg, vmKindArg, vmRingArg, errorReply, parseRequest, pollingArg, portArg, type Command, type Request,
} from './args.js';
import { resolveGroup, startServer } from './server.js';
import { DaemonCounters } from './stats.js';
import type { HttpOptions, MetricsServer } from '../http/server.js';
import { callerText, DaemonState, packageVersion, type Caller, type DaemonView, type HeldPort, type ReclaimResult } from './state.js';
import type { AttachmentInfo } from '../vale-attach/vale-attach.js';

export interface DaemonOptions {
  /** Unix socket to listen on (default: defaultSocketPath()). */
  socketPath?: string;
  /** Mode of the socket file (default 0o660): who may connect. */
  mode?: number;
  /** Group of the socket file, by name or gid (default: the daemon's group). */
  group?: string | number;
  /** Receives one line per event, already formatted (default: stderr). */
  log?: (line: string) => void;
  /** Reclaim ports of dead processes this often (default 500 ms; 0 turns it off). */
  reclaimIntervalMs?: number;
  /** Longest accepted request line, in bytes (default 65536). */
  maxRequestBytes?: number;
  /**
   * Stop once nothing is held or attached: after a request leaves the daemon empty, or
   * `idleGraceMs` after the start if nothing came (the daemon vale-ctl starts on demand).
   */
  exitWhenIdle?: boolean;
  /** With exitWhenIdle: how long an idle daemon waits after its start (default 10000 ms). */
  idleGraceMs?: number;
  /** A connection with no request for this long is closed (default 60000 ms; 0: never). */
  idleTimeoutMs?: number;
  /** Connections one uid may have open at once; more are refused with EUSERS (default 32). */
  maxConnectionsPerUid?: number;
  /**
   * Serve the read-only HTTP side (metrics, JSON API, dashboard: apps/http/server.ts) on this
   * address (host 127.0.0.1 and port 9180 unless given; port 0 picks a free one). Off by default.
   */
  http?: HttpOptions;
}

export type { Caller, DaemonView, HeldPort, PeerCred, ReclaimResult } from './state.js';

export interface DaemonHandle {
  readonly socketPath: string;
  readonly pid: number;
  /** http://host:port of the HTTP server (the `http` option), else null. */
  readonly httpUrl: string | null;
  /** Ports held right now. */
  held(): HeldPort[];
  /** Interfaces attached to switches right now, with their forwarders' counters. */
  attached(): AttachmentInfo[];
  /** The read-only picture: switches, their ports and counters, held ports, attachments. */
  view(): DaemonView;
  /** Run a reclaim pass now (the periodic one does the same). */
  reclaim(): ReclaimResult;
  /** Stop: refuse new connections, drop clients, detach every interface, release every held port, remove the socket. */
  close(): Promise<void>;
  /** Resolves once close() has finished (whoever called it). */
  readonly closed: Promise<void>;
}

export { DAEMON_COMMANDS } from './args.js';
export { DaemonState, reclaimDeadPorts } from './state.js';
export { peerCred, resolveGroup } from './server.js';

export { checkDaemonSocket, defaultSocketPath } from './socket.js';

/** A protocol error goes back to the client as {ok:false, error, code}: the same shape as
 *  NetmapError, which open() and the switch API throw, so both travel alike. */
export { NetmapError as DaemonError };

export function formatLogLine(event: string, pid = process.pid, now = new Date()): string {
  // one event, one line: control characters from client input are escaped
  const clean = event.replace(/[\x00-\x1f\x7f]/g, (c) => (c === '\n' ? '\\n' : c === '\t' ? '\\t' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
  return `${now.toISOString()} nmts-daemon[${pid}]: ${clean}`;
}

/** Requests after which a daemon that exits when idle looks whether it is. */
const CHANGES: ReadonlySet<Command> = new Set<Command>(['hold', 'release', 'attach', 'detach', 'vhost-create', 'vhost-remove']);

type Result = Record<string, unknown>;
/** Each command: its arguments checked (args.ts), then the state's method; the reply's fields. */
const HANDLERS: Record<Command, (s: DaemonState, req: Request, c: Caller) => Result | Promise<Result>> = {
  ping: (s) => s.ping(),
  list: (s) => s.list(),
  hold: (s, req, c) => s.hold(portArg(req), confArg(req), c),
  release: (s, req, c) => s.release(portArg(req), c),
  held: (s) => ({ ports: s.heldPorts() }),
  reclaim: (s) => ({ ...s.reclaim('requested') }),
  stats: (s, req) => s.stats(portArg(req)),
  attach: async (s, req, c) => {
    const port = portArg(req);
    const host = boolArg(req, 'host', false);
    const o = confArg(req);
    const a = await s.attach(port, host, { txSlots: o.txSlots, rxSlots: o.rxSlots, txRings: o.txRings, rxRings: o.rxRings }, c);
    return { port: a.port, index: a.index, hostPort: a.hostPort, hostIndex: a.hostIndex, interface: a.interface, switch: a.switch, backend: a.backend, lines: a.lines };
  },
  detach: async (s, req, c) => {
    const ports = await s.detach(portArg(req), c);
    return { port: ports[0], detached: ports };
  },
  polling: async (s, req, c) => {
    const port = portArg(req);
    const enable = boolArg(req, 'enable', true);
    const a = await s.polling(port, pollingArg(req), enable, c);
    return { port: a.port, polling: a.polling !== null, cpu: a.polling?.cpu ?? null, note: a.polling?.note ?? '' };
  },
  attached: (s) => ({ attachments: s.attached() }),
  'vhost-create': async (s, req, c) => ({ ...await s.vhostCreate(portArg(req), stringArg(req, 'path'), c, vmKindArg(req), vmRingArg(req)) }),
  'vhost-remove': async (s, req, c) => { await s.vhostRemove(portArg(req), c); return { port: portArg(req) }; },
  'vhost-list': (s) => ({ ports: s.vhostList() }),
  'vxlan-fdb-add': (s, req, c) => s.vxlanFdbAdd(portArg(req), entryArg(req), c),
  'vxlan-fdb-del': (s, req, c) => s.vxlanFdbDel(portArg(req), entryArg(req), c),
  'vxlan-fdb-show': (s, req) => ({ ...s.vxlanFdbShow(portArg(req)) }),
};

/** Start the daemon; resolves once it listens. */
export async function runDaemon(opts: DaemonOptions = {}): Promise<DaemonHandle> {
  const socketPath = opts.socketPath ?? defaultSocketPath();
  const mode = opts.mode ?? 0o660;
  const log = opts.log ?? ((l: string) => { process.stderr.write(l + '\n'); });
  const reclaimIntervalMs = opts.reclaimIntervalMs ?? 500;
  const maxRequestBytes = opts.maxRequestBytes ?? 65536;
  const exitWhenIdle = opts.exitWhenIdle ?? false;
  const idleGraceMs = opts.idleGraceMs ?? 10_000;
  const idleTimeoutMs = opts.idleTimeoutMs ?? 60_000;
  const maxPerUid = opts.maxConnectionsPerUid ?? 32;
  const emit = (event: string): void => {
    try { log(formatLogLine(event)); } catch { /* a failing logger must not stop the daemon */ }
  };

  if (process.env.NMTS_SHARED === '0') throw new NetmapError('EINVAL', 'NMTS_SHARED=0 keeps ports inside one process: a daemon could hold nothing for others; unset it');
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o777) throw new NetmapError('EINVAL', `invalid socket mode ${mode}`);
  if (!Number.isInteger(maxRequestBytes) || maxRequestBytes < 64) throw new NetmapError('EINVAL', `maxRequestBytes must be an integer >= 64`);
  if (!Number.isInteger(idleTimeoutMs) || idleTimeoutMs < 0) throw new NetmapError('EINVAL', `idleTimeoutMs must be an integer >= 0`);
  if (!Number.isInteger(maxPerUid) || maxPerUid < 1) throw new NetmapError('EINVAL', `maxConnectionsPerUid must be an integer >= 1`);
  if (Buffer.byteLength(socketPath) > 107) throw new NetmapError('ENAMETOOLONG', `socket path too long for a Unix socket (${Buffer.byteLength(socketPath)} bytes, at most 107): ${socketPath}`);
  const gid = opts.group === undefined ? undefined : resolveGroup(opts.group);

  let closing: Promise<void> | null = null;
  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => { resolveClosed = r; });
  const state = new DaemonState(emit, () => idleCheck());
  const counters = new DaemonCounters();

  const fail = (c: Caller, id: unknown, code: string, error: string, what: string): Result => {
    counters.error(code);
    emit(`${callerText(c)}: error ${code} (${what}): ${error}`);
    return { id, ok: false, error, code };
  };
  const answer = async (c: Caller, text: string): Promise<Result | null> => {
    if (text.trim() === '') return null; // blank lines are ignored
    const p = parseRequest(text);
    counters.request(p.ok ? p.command : null);
    if (!p.ok) return fail(c, p.id, p.code, p.error, 'request');
    let r: Result;
    try {
      r = { id: p.id, ok: true, ...await HANDLERS[p.command](state, p.req, c) };
    } catch (e) {
      const { code, error } = errorReply(e);
      r = fail(c, p.id, code, error, p.command);
    }
    if (CHANGES.has(p.command)) idleCheck();
    return r;
  };

  const server = await startServer({ socketPath, mode, gid, maxRequestBytes, idleTimeoutMs, maxPerUid, emit, answer });
  let http: MetricsServer | null = null;
  if (opts.http) {
    try {
      // loaded only when asked: prom-client takes a while to load, and most daemons serve no HTTP
      const [{ startMetricsServer }, { daemonMetricsProvider }] = await Promise.all([import('../http/server.js'), import('./http.js')]);
      http = await startMetricsServer(daemonMetricsProvider(state, counters, server), opts.http);
    } catch (e) {
      await server.close();
      const err = e as NodeJS.ErrnoException;
      throw new NetmapError(err.code ?? 'EIO', `cannot serve HTTP on ${opts.http.host ?? '127.0.0.1'}:${opts.http.port ?? 9180}: ${err.message}`);
    }
  }
  emit(`started: socket ${socketPath} (mode ${mode.toString(8).padStart(4, '0')}${gid !== undefined ? `, group ${opts.group}` : ''}), pid ${process.pid}, version ${packageVersion()}, shared files in ${SHM_DIR}${http ? `, HTTP ${http.url} (read-only)` : ''}`);

  let idleTimer: NodeJS.Timeout | null = null;
  /** With exitWhenIdle: stop shortly after the daemon is left with nothing to keep. */
  const idleCheck = (): void => {
    if (!exitWhenIdle || closing || idleTimer) return;
    idleTimer = setTimeout(() => {
      idleTimer = null;
      if (closing || !state.empty) return;
      if (server.inflight > 0) { idleCheck(); return; } // look again once the running requests are done
      emit('nothing held or attached: exiting (exit when idle)');
      void close();
    }, 200);
  };

  let lastReclaimError = '';
  const timer = reclaimIntervalMs > 0 ? setInterval(() => {
    try {
      state.reclaim('periodic');
      lastReclaimError = '';
    } catch (e) {
      counters.reclaimFailures++;
      const msg = e instanceof Error ? e.message : String(e);
      if (msg !== lastReclaimError) emit(`reclaim failed: ${msg}`);
      lastReclaimError = msg;
    }
  }, reclaimIntervalMs) : null;
  timer?.unref();
  if (exitWhenIdle) {
    // started on demand (vale-ctl): if no request comes, do not linger
    setTimeout(() => { if (state.empty) idleCheck(); }, idleGraceMs).unref();
  }

  const close = (): Promise<void> => {
    if (closing) return closing;
    closing = (async () => {
      if (timer) clearInterval(timer);
      if (idleTimer) clearTimeout(idleTimer);
      emit(`shutting down: ${state.heldCount} held port(s), ${state.attachedCount} attached interface(s), ${server.connections} connection(s)`);
      const serverClosed = server.close();
      const httpClosed = http?.close();
      const { detached, released } = await state.close();
      await serverClosed;
      await httpClosed;
      emit(`stopped: ${detached.length ? `detached ${detached.join(' ')}, ` : ''}released ${released.length} port(s)${released.length ? ` (${released.join(' ')})` : ''}, removed socket ${socketPath}`);
      resolveClosed();
    })();
    return closing;
  };

  return {
    socketPath,
    pid: process.pid,
    httpUrl: http?.url ?? null,
    held: () => state.heldPorts(),
    attached: () => state.attached(),
    view: () => state.view(),
    reclaim: () => state.reclaim('requested'),
    close,
    closed,
  };
}

export { daemonRequest } from './client.js';

/** The shared file of a switch (for tests and tools). */
export { regionPath };
