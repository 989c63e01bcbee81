// The nmts daemon as a library: it holds persistent ports (and so their switches and shared
// files) open on behalf of clients that come and go, keeps Linux interfaces attached to VALE
// switches (a forwarder thread each: vale-attach.ts), answers a newline-delimited JSON
// protocol on a Unix socket, reclaims ports of dead processes every reclaimIntervalMs, and on
// close() detaches every interface, releases every port it holds (the files it created go
// away once empty) and removes its socket. `nmts daemon` (src/cli/daemon.ts) runs it in the
// foreground; docs/daemon.md describes the protocol.
import { chmodSync, chownSync, lstatSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { groupId, peerCredentials } from '../../sys/libc.js';
import { listSwitches, NetmapError, open, ValePort, type Port, type SwitchInfo } from '../../index.js';
import { taskAlive } from '../../core/lock.js';
import { reclaimAll, regionPath, SHM_DIR } from '../../core/shm.js';
import { Attachments, type AttachmentInfo, type RingConf } from '../vale-attach/vale-attach.js';
import { checkDaemonSocket, defaultSocketPath, prepareSocketDir } from './socket.js';
import {
  ARGS, boolArg, canonicalPort, confArg, DAEMON_COMMANDS, jsonErrorMessage, pollingArg, portArg, refuseInterface, type Command, type Request,
} from './args.js';

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
}

export interface HeldPort {
  /** Canonical port name ('vale0:p1'). */
  port: string;
  /** Switch name for VALE ports, else null. */
  switch: string | null;
  /** Index on the switch for VALE ports, else null. */
  index: number | null;
  /** When the daemon opened it (ISO time). */
  since: string;
  /** Who asked for it. */
  by: PeerCred;
}

export interface PeerCred {
  pid: number | 'unknown';
  uid: number | 'unknown';
  gid: number | 'unknown';
}

export interface ReclaimResult {
  /** Openers (threads or processes that died with the port open) reclaimed. */
  reclaimed: number;
  /** Ports destroyed because their last opener was reclaimed. */
  ports: string[];
  /** Shared files removed because the reclaim left them empty. */
  removed: string[];
}

export interface DaemonHandle {
  readonly socketPath: string;
  readonly pid: number;
  /** Ports held right now. */
  held(): HeldPort[];
  /** Interfaces attached to switches right now, with their forwarders' counters. */
  attached(): AttachmentInfo[];
  /** Run a reclaim pass now (the periodic one does the same). */
  reclaim(): ReclaimResult;
  /** Stop: refuse new connections, drop clients, detach every interface, release every held port, remove the socket. */
  close(): Promise<void>;
  /** Resolves once close() has finished (whoever called it). */
  readonly closed: Promise<void>;
}

export { DAEMON_COMMANDS } from './args.js';

export { checkDaemonSocket, defaultSocketPath } from './socket.js';

/** A protocol error goes back to the client as {ok:false, error, code}: the same shape as
 *  NetmapError, which open() and the switch API throw, so both travel alike. */
export { NetmapError as DaemonError };

export function formatLogLine(event: string, pid = process.pid, now = new Date()): string {
  // one event, one line: control characters from client input are escaped
  const clean = event.replace(/[\x00-\x1f\x7f]/g, (c) => (c === '\n' ? '\\n' : c === '\t' ? '\\t' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
  return `${now.toISOString()} nmts-daemon[${pid}]: ${clean}`;
}

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

const UNKNOWN_PEER: PeerCred = { pid: 'unknown', uid: 'unknown', gid: 'unknown' };

/** SO_PEERCRED of a connected Unix socket: who connected (at connect time). */
export function peerCred(socket: Socket): PeerCred {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) return UNKNOWN_PEER;
  return peerCredentials(fd) ?? UNKNOWN_PEER;
}

/** A group name or number as a gid. */
export function resolveGroup(group: string | number): number {
  if (typeof group === 'number' || /^\d+$/.test(group)) {
    const gid = Number(group);
    if (!Number.isInteger(gid) || gid < 0 || gid > 0xfffffffe) throw new NetmapError('EINVAL', `invalid group id ${group}`);
    return gid;
  }
  const gid = groupId(group);
  if (gid !== null) return gid;
  throw new NetmapError('EINVAL', `unknown group '${group}'`);
}

// ---- reclaim: ports of dead openers in every shared file ----
/**
 * One pass over the shared files: ports whose openers died are released (destroyed when
 * none is left), and a file this pass left empty is removed, as the last close() would have
 * (a file this user may not remove stays, empty and usable: see retireRegion).
 */
export function reclaimDeadPorts(): ReclaimResult {
  // try-lock only: a file whose lock a live task holds waits for the next pass, and the
  // event loop never waits for a shared-file lock
  const r = reclaimAll(taskAlive, { lockWaitMs: 0 });
  return { reclaimed: r.openers, ports: r.ports, removed: r.retired.map(regionPath) };
}

// ---- the server ----
interface Held { port: Port; info: HeldPort }
/** pending: requests read but not answered yet (input is paused meanwhile). */
interface Conn { id: number; socket: Socket; peer: PeerCred; queue: Promise<void>; pending: number }
/** Requests after which a daemon that exits when idle looks whether it is. */
const CHANGES: ReadonlySet<Command> = new Set<Command>(['hold', 'release', 'attach', 'detach']);
const MAX_PENDING_OUTPUT = 16 << 20; // a client that never reads its replies is dropped
const RESUME_BELOW = 1 << 20; // read a client's next requests once its unread replies are below this
function peerText(p: PeerCred): string {
  return `pid=${p.pid} uid=${p.uid}`;
}


/** Probe an existing socket file: is a daemon answering on it? */
function probeSocket(path: string): Promise<{ state: 'none' | 'stale' | 'live'; detail?: string }> {
  try {
    const st = lstatSync(path);
    if (!st.isSocket()) return Promise.resolve({ state: 'live', detail: `${path} exists and is not a socket; refusing to replace it` });
  } catch {
    return Promise.resolve({ state: 'none' });
  }
  return new Promise((resolve) => {
    const s = createConnection(path);
    let done = false;
    const finish = (r: { state: 'none' | 'stale' | 'live'; detail?: string }): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => finish({ state: 'live', detail: `something accepts connections on ${path}` }), 1000);
    let buf = '';
    s.on('connect', () => s.write('{"id":"probe","cmd":"ping"}\n'));
    s.on('data', (d) => {
      buf += d.toString('utf8');
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      let pid = '?';
      try { pid = String((JSON.parse(buf.slice(0, nl)) as { pid?: number }).pid ?? '?'); } catch { /* not a daemon reply */ }
      finish({ state: 'live', detail: `another nmts daemon (pid ${pid}) is listening on ${path}` });
    });
    s.on('close', () => finish({ state: 'live', detail: `something accepts connections on ${path}` }));
    s.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ECONNREFUSED') finish({ state: 'stale' });
      else if (e.code === 'ENOENT') finish({ state: 'none' });
      else finish({ state: 'live', detail: `cannot tell whether a daemon listens on ${path}: ${e.code ?? e.message}` });
    });
  });
}

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

  prepareSocketDir(socketPath);
  const probe = await probeSocket(socketPath);
  if (probe.state === 'live') throw new NetmapError('EADDRINUSE', `refusing to start: ${probe.detail}`);
  if (probe.state === 'stale') {
    unlinkSync(socketPath);
    emit(`removed stale socket ${socketPath}`);
  }

  const started = Date.now();
  const held = new Map<string, Held>();
  const attachments = new Attachments((event) => emit(event), () => idleCheck());
  const conns = new Set<Conn>();
  let nextConn = 1;
  let closing: Promise<void> | null = null;
  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => { resolveClosed = r; });

  const doReclaim = (why: string): ReclaimResult => {
    const r = reclaimDeadPorts();
    if (r.reclaimed) {
      emit(`reclaimed ${r.reclaimed} opener(s) of dead processes (${why})${r.ports.length ? `: destroyed ${r.ports.join(' ')}` : ''}${r.removed.length ? `; removed ${r.removed.join(' ')}` : ''}`);
    }
    return r;
  };

  const findPort = (name: string): { sw: SwitchInfo; port: SwitchInfo['ports'][number] } | null => {
    for (const sw of listSwitches()) for (const p of sw.ports) if (p.name === name) return { sw, port: p };
    return null;
  };

  type Result = Record<string, unknown>;
  const handlers: Record<Command, (req: Request, c: Conn) => Result | Promise<Result>> = {
    ping: () => ({ version: version(), pid: process.pid, uptimeSec: Math.round((Date.now() - started) / 100) / 10 }),
    list: () => {
      doReclaim('list');
      return { switches: listSwitches() };
    },
    hold: (req, c) => {
      const name = portArg(req);
      const conf = confArg(req);
      const key = canonicalPort(name);
      const have = held.get(key);
      if (have) return { port: key, index: have.info.index, already: true };
      if (closing) throw new NetmapError('ESHUTDOWN', 'the daemon is shutting down');
      refuseInterface(name);
      const port: Port = open(name, conf); // errors are logged and returned by the caller
      const vale = port instanceof ValePort ? port : null;
      const info: HeldPort = {
        port: key, switch: vale ? vale.spec.switchName : null, index: vale ? vale.portIndex : null,
        since: new Date().toISOString(), by: c.peer,
      };
      held.set(key, { port, info });
      emit(`conn#${c.id} ${peerText(c.peer)}: hold ${key}${info.index !== null ? ` (index ${info.index})` : ''}`);
      return { port: key, index: info.index, already: false };
    },
    release: (req, c) => {
      const key = canonicalPort(portArg(req));
      const h = held.get(key);
      if (!h) throw new NetmapError('ENOENT', `${key} is not held by this daemon (see 'held')`);
      held.delete(key);
      h.port.close();
      emit(`conn#${c.id} ${peerText(c.peer)}: release ${key}`);
      return { port: key };
    },
    held: () => ({ ports: [...held.values()].map((h) => h.info) }),
    reclaim: () => doReclaim('requested') as unknown as Record<string, unknown>,
    stats: (req) => {
      const key = canonicalPort(portArg(req));
      doReclaim('stats');
      const f = findPort(key);
      if (f) return { port: key, switch: f.sw.name, index: f.port.index, openers: f.port.openers, stats: f.port.stats };
      const h = held.get(key);
      if (h) return { port: key, switch: null, index: null, openers: null, stats: h.port.stats() };
      throw new NetmapError('ENOENT', `no port ${key} (stats covers VALE ports and ports held by this daemon)`);
    },
    attach: async (req, c) => {
      const port = portArg(req);
      const host = boolArg(req, 'host', false);
      const o = confArg(req);
      const conf: RingConf = { txSlots: o.txSlots, rxSlots: o.rxSlots, txRings: o.txRings, rxRings: o.rxRings };
      if (closing) throw new NetmapError('ESHUTDOWN', 'the daemon is shutting down');
      const a = await attachments.attach(port, { host, conf, by: c.peer });
      emit(`conn#${c.id} ${peerText(c.peer)}: attach ${a.interface} to ${a.switch}: ${a.port} (index ${a.index})${a.hostPort ? `, ${a.hostPort} (index ${a.hostIndex})` : ''}; ${a.lines[0] ?? a.backend}`);
      return { port: a.port, index: a.index, hostPort: a.hostPort, hostIndex: a.hostIndex, interface: a.interface, switch: a.switch, backend: a.backend, lines: a.lines };
    },
    detach: async (req, c) => {
      const ports = await attachments.detach(portArg(req));
      emit(`conn#${c.id} ${peerText(c.peer)}: detach ${ports.join(' ')}`);
      return { port: ports[0], detached: ports };
    },
    polling: async (req, c) => {
      const port = portArg(req);
      const enable = boolArg(req, 'enable', true);
      const request = pollingArg(req);
      if (!enable && request) throw new NetmapError('EINVAL', `'mode', 'firstCpu' and 'numCpus' apply when enabling polling`);
      const a = await attachments.polling(port, request, enable);
      emit(`conn#${c.id} ${peerText(c.peer)}: polling ${enable ? 'on' : 'off'} ${a.port}${a.polling ? ` (${a.polling.note})` : ''}`);
      return { port: a.port, polling: a.polling !== null, cpu: a.polling?.cpu ?? null, note: a.polling?.note ?? '' };
    },
    attached: () => ({ attachments: attachments.list() }),
  };

  const reply = (c: Conn, obj: Record<string, unknown>): void => {
    if (c.socket.destroyed) return;
    let text: string;
    try {
      text = JSON.stringify(obj);
    } catch (e) {
      text = JSON.stringify({ id: null, ok: false, error: `internal error: reply not serializable: ${e instanceof Error ? e.message : String(e)}`, code: 'EIO' });
    }
    c.socket.write(text + '\n');
    if (c.socket.writableLength > MAX_PENDING_OUTPUT) {
      emit(`conn#${c.id} ${peerText(c.peer)}: dropped: ${c.socket.writableLength} bytes of replies not read`);
      c.socket.destroy();
    }
  };

  const fail = (c: Conn, id: unknown, code: string, error: string, what: string): void => {
    emit(`conn#${c.id} ${peerText(c.peer)}: error ${code} (${what}): ${error}`);
    reply(c, { id, ok: false, error, code });
  };

  let inflight = 0; // requests being handled (an idle daemon exits only between requests)
  const handleLine = async (c: Conn, line: Buffer): Promise<void> => {
    inflight++;
    try {
      await handleRequest(c, line);
    } finally {
      inflight--;
    }
  };
  /** A line was read: input waits until every request read so far is answered. */
  const accepted = (c: Conn): void => {
    if (c.pending++ === 0) c.socket.pause();
  };
  // ... and, while the client leaves more than RESUME_BELOW bytes of replies unread, until
  // they drain: a client that writes without reading stalls itself, not the daemon's memory
  const answered = (c: Conn): void => {
    if (--c.pending > 0 || c.socket.destroyed) return;
    if (c.socket.writableLength > RESUME_BELOW) c.socket.once('drain', () => { if (c.pending === 0) c.socket.resume(); });
    else c.socket.resume();
  };

  const handleRequest = async (c: Conn, line: Buffer): Promise<void> => {
    const text = line.toString('utf8').replace(/\r$/, '');
    if (text.trim() === '') return; // blank lines are ignored
    let req: unknown;
    try {
      req = JSON.parse(text);
    } catch (e) {
      return fail(c, null, 'EBADMSG', jsonErrorMessage(e, text), 'request');
    }
    if (typeof req !== 'object' || req === null || Array.isArray(req)) {
      return fail(c, null, 'EINVAL', `a request must be a JSON object such as {"id":1,"cmd":"ping"}, got ${Array.isArray(req) ? 'an array' : req === null ? 'null' : typeof req}`, 'request');
    }
    const r = req as Request;
    const id = r.id === undefined ? null : r.id;
    const cmd = r.cmd;
    if (cmd === undefined) return fail(c, id, 'EINVAL', `missing 'cmd' (known commands: ${DAEMON_COMMANDS.join(', ')})`, 'request');
    if (typeof cmd !== 'string' || !(DAEMON_COMMANDS as readonly string[]).includes(cmd)) {
      return fail(c, id, 'ENOSYS', `unknown command ${JSON.stringify(cmd)} (known commands: ${DAEMON_COMMANDS.join(', ')})`, 'request');
    }
    const command = cmd as Command;
    for (const k of Object.keys(r)) {
      if (k !== 'id' && k !== 'cmd' && !ARGS[command].includes(k)) {
        return fail(c, id, 'EINVAL', `unknown argument '${k}' for ${command}${ARGS[command].length ? ` (arguments: ${ARGS[command].join(', ')})` : ' (it takes none)'}`, command);
      }
    }
    try {
      reply(c, { id, ok: true, ...await handlers[command](r, c) });
    } catch (e) {
      const code = e instanceof NetmapError ? e.code : (e as { code?: unknown })?.code;
      const msg = e instanceof Error ? e.message : String(e);
      if (typeof code === 'string' && /^E[A-Z0-9]+$/.test(code)) fail(c, id, code, msg, command);
      else if (e instanceof Error && e.name === 'PortSpecError') fail(c, id, 'EINVAL', msg, command);
      else fail(c, id, 'EIO', `internal error: ${msg}`, command);
    }
    if (CHANGES.has(command)) idleCheck();
  };

  // One request at a time per connection, in order: a slow one (attach starts a thread)
  // delays the replies after it, never reorders them.
  const enqueue = (c: Conn, work: () => void | Promise<void>): void => {
    c.queue = c.queue.then(work).catch((e: unknown) => emit(`conn#${c.id}: internal error: ${e instanceof Error ? e.message : String(e)}`));
  };

  let idleTimer: NodeJS.Timeout | null = null;
  /** With exitWhenIdle: stop shortly after the daemon is left with nothing to keep. */
  const idleCheck = (): void => {
    if (!exitWhenIdle || closing || idleTimer) return;
    idleTimer = setTimeout(() => {
      idleTimer = null;
      if (closing || held.size > 0 || attachments.size > 0) return;
      if (inflight > 0) { idleCheck(); return; } // look again once the running requests are done
      emit('nothing held or attached: exiting (exit when idle)');
      void close();
    }, 200);
  };

  const onConnection = (socket: Socket): void => {
    const c: Conn = { id: nextConn++, socket, peer: peerCred(socket), queue: Promise.resolve(), pending: 0 };
    if (closing) { socket.destroy(); return; }
    let same = 0;
    for (const o of conns) if (o.peer.uid === c.peer.uid) same++;
    if (same >= maxPerUid) {
      // one reply saying why, then the connection goes: other users still get in
      emit(`conn#${c.id} ${peerText(c.peer)}: refused: ${same} connection(s) of uid ${c.peer.uid} already open (at most ${maxPerUid})`);
      socket.on('error', () => { /* the client went away */ });
      socket.end(JSON.stringify({ id: null, ok: false, error: `too many connections from uid ${c.peer.uid} (at most ${maxPerUid}): close idle ones`, code: 'EUSERS' }) + '\n');
      setTimeout(() => socket.destroy(), 1000).unref();
      return;
    }
    conns.add(c);
    if (idleTimeoutMs > 0) {
      socket.setTimeout(idleTimeoutMs);
      socket.on('timeout', () => {
        if (c.pending > 0) return; // a request is running (attach): not idle
        emit(`conn#${c.id} ${peerText(c.peer)}: closed after ${idleTimeoutMs / 1000} s without a request`);
        socket.destroy();
      });
    }
    let parts: Buffer[] = [];
    let size = 0;
    let discarding = false;
    const tooLong = (): void => {
      accepted(c);
      enqueue(c, () => { try { fail(c, null, 'EMSGSIZE', `request line longer than ${maxRequestBytes} bytes: discarded up to the next newline`, 'request'); } finally { answered(c); } });
    };
    const request = (line: Buffer): void => {
      accepted(c);
      enqueue(c, () => handleLine(c, line).finally(() => answered(c)));
    };
    socket.on('data', (chunk: Buffer) => {
      let start = 0;
      while (start < chunk.length && !socket.destroyed) {
        const nl = chunk.indexOf(0x0a, start);
        const end = nl < 0 ? chunk.length : nl;
        if (discarding) {
          if (nl < 0) return;
          discarding = false;
          start = nl + 1;
          continue;
        }
        if (size + (end - start) > maxRequestBytes) {
          parts = [];
          size = 0;
          tooLong();
          if (nl < 0) { discarding = true; return; }
          start = nl + 1;
          continue;
        }
        if (nl < 0) { // keep a copy: the chunk's memory may be reused
          parts.push(Buffer.from(chunk.subarray(start)));
          size += chunk.length - start;
          return;
        }
        // a copy: the line may be handled after this chunk's memory is reused
        const line = parts.length ? Buffer.concat([...parts, chunk.subarray(start, end)]) : Buffer.from(chunk.subarray(start, end));
        parts = [];
        size = 0;
        start = nl + 1;
        request(line);
      }
    });
    socket.on('end', () => { // a last request without its newline still counts
      if (!discarding && size > 0) {
        const line = Buffer.concat(parts);
        request(line);
      }
      parts = [];
      size = 0;
      enqueue(c, () => { socket.end(); });
    });
    socket.on('error', () => { /* the client went away: nothing to do */ });
    socket.on('close', () => { conns.delete(c); });
  };

  const server: Server = createServer({ allowHalfOpen: true }, onConnection);
  server.maxConnections = 1024;
  server.on('error', (e) => emit(`server error: ${e.message}`));
  await new Promise<void>((resolve, reject) => {
    const onErr = (e: NodeJS.ErrnoException): void => reject(new NetmapError(e.code ?? 'EIO', `cannot listen on ${socketPath}: ${e.message}`));
    server.once('error', onErr);
    // the socket appears with owner-only access; group and mode are set right after
    let oldMask: number | undefined;
    try { oldMask = process.umask(0o177); } catch { /* not allowed in worker threads */ }
    try {
      server.listen(socketPath, () => { server.off('error', onErr); resolve(); });
    } finally {
      if (oldMask !== undefined) process.umask(oldMask);
    }
  });
  let ino = 0;
  try {
    if (gid !== undefined) chownSync(socketPath, -1, gid);
    chmodSync(socketPath, mode);
    ino = statSync(socketPath).ino;
  } catch (e) {
    server.close();
    throw new NetmapError((e as NodeJS.ErrnoException).code ?? 'EIO', `cannot set the permissions of ${socketPath}: ${e instanceof Error ? e.message : String(e)}`);
  }
  emit(`started: socket ${socketPath} (mode ${mode.toString(8).padStart(4, '0')}${gid !== undefined ? `, group ${opts.group}` : ''}), pid ${process.pid}, version ${version()}, shared files in ${SHM_DIR}`);

  let lastReclaimError = '';
  const timer = reclaimIntervalMs > 0 ? setInterval(() => {
    try {
      doReclaim('periodic');
      lastReclaimError = '';
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      if (msg !== lastReclaimError) emit(`reclaim failed: ${msg}`);
      lastReclaimError = msg;
    }
  }, reclaimIntervalMs) : null;
  timer?.unref();
  if (exitWhenIdle) {
    // started on demand (vale-ctl): if no request comes, do not linger
    setTimeout(() => { if (held.size === 0 && attachments.size === 0) idleCheck(); }, idleGraceMs).unref();
  }

  const close = (): Promise<void> => {
    if (closing) return closing;
    closing = (async () => {
      if (timer) clearInterval(timer);
      if (idleTimer) clearTimeout(idleTimer);
      emit(`shutting down: ${held.size} held port(s), ${attachments.size} attached interface(s), ${conns.size} connection(s)`);
      const serverClosed = new Promise<void>((r) => server.close(() => r()));
      for (const c of conns) c.socket.destroy();
      let detached: string[] = [];
      try {
        detached = await attachments.closeAll();
      } catch (e) {
        emit(`detaching failed: ${e instanceof Error ? e.message : String(e)}`);
      }
      const released: string[] = [];
      for (const [key, h] of held) {
        try {
          h.port.close();
          released.push(key);
        } catch (e) {
          emit(`release ${key} failed: ${e instanceof Error ? e.message : String(e)}`);
        }
      }
      held.clear();
      await serverClosed;
      try { // libuv removes the socket file on close; make sure, if it is still ours
        if (statSync(socketPath).ino === ino) unlinkSync(socketPath);
      } catch { /* already gone */ }
      emit(`stopped: ${detached.length ? `detached ${detached.join(' ')}, ` : ''}released ${released.length} port(s)${released.length ? ` (${released.join(' ')})` : ''}, removed socket ${socketPath}`);
      resolveClosed();
    })();
    return closing;
  };

  return {
    socketPath,
    pid: process.pid,
    held: () => [...held.values()].map((h) => h.info),
    attached: () => attachments.list(),
    reclaim: () => doReclaim('requested'),
    close,
    closed,
  };
}

/** A minimal client: one request, one reply (for tests and scripts). */
export function daemonRequest(socketPath: string, req: Record<string, unknown>, timeoutMs = 5000): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    try {
      checkDaemonSocket(socketPath); // not a socket another user planted
    } catch (e) {
      reject(e);
      return;
    }
    const s = createConnection(socketPath);
    let buf = '';
    const timer = setTimeout(() => { s.destroy(); reject(new Error(`no reply from ${socketPath} within ${timeoutMs} ms`)); }, timeoutMs);
    s.on('connect', () => s.write(JSON.stringify(req) + '\n'));
    s.on('data', (d) => {
      buf += d.toString('utf8');
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      s.end();
      try { resolve(JSON.parse(buf.slice(0, nl)) as Record<string, unknown>); } catch (e) { reject(e); }
    });
    s.on('error', (e) => { clearTimeout(timer); reject(e); });
    s.on('close', () => { // no-op once resolved
      clearTimeout(timer);
      reject(Object.assign(new Error(`${socketPath}: the daemon closed the connection without a reply`), { code: 'ECONNRESET' }));
    });
  });
}

/** The shared file of a switch (for tests and tools). */
export { regionPath };
