// The daemon's Unix socket server: listen (refusing to replace a live daemon's socket, removing
// a stale one), set the socket's owner group and mode, and carry newline-delimited requests
// to `answer` and its replies back. Per connection: one request at a time and in order (input
// paused while one runs), lines longer than maxRequestBytes refused with EMSGSIZE and skipped
// to the next newline, a client that does not read its replies stalled then dropped, idle
// connections closed, at most maxPerUid connections per uid. What a request means is not known
// here: see args.ts (validation) and state.ts (the requests).
import { chmodSync, chownSync, lstatSync, statSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { groupId, peerCredentials } from '../../sys/libc.js';
import { NetmapError } from '../../core/region.js';
import { prepareSocketDir } from './socket.js';
import { callerText, type Caller, type PeerCred } from './state.js';

export interface ServerOptions {
  socketPath: string;
  mode: number;
  gid: number | undefined;
  maxRequestBytes: number;
  /** 0: never close an idle connection. */
  idleTimeoutMs: number;
  maxPerUid: number;
  emit: (event: string) => void;
  /** One request line (without its newline): the reply object, or null to send none. */
  answer: (caller: Caller, line: string) => Promise<Record<string, unknown> | null>;
}

export interface DaemonServer {
  /** Requests being answered right now. */
  readonly inflight: number;
  /** Connections open right now. */
  readonly connections: number;
  /** Connections accepted, and refused (too many of one uid), since the start. */
  readonly accepted: number;
  readonly refused: number;
  /** Stop accepting, drop every client, remove the socket file if it is still ours. */
  close(): Promise<void>;
}

const MAX_PENDING_OUTPUT = 16 << 20; // a client that never reads its replies is dropped
const RESUME_BELOW = 1 << 20; // read a client's next requests once its unread replies are below this
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

type Probe = { state: 'none' | 'stale' | 'live'; detail?: string };

/** Probe an existing socket file: is a daemon answering on it? */
function probeSocket(path: string): Promise<Probe> {
  try {
    const st = lstatSync(path);
    if (!st.isSocket()) return Promise.resolve({ state: 'live', detail: `${path} exists and is not a socket; refusing to replace it` });
  } catch {
    return Promise.resolve({ state: 'none' });
  }
  return new Promise((resolve) => {
    const s = createConnection(path);
    let done = false;
    const finish = (r: Probe): void => {
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

/** pending: requests read but not answered yet (input is paused meanwhile). */
interface Conn extends Caller { socket: Socket; queue: Promise<void>; pending: number }

/** Listen on o.socketPath; resolves once the socket is there with its group and mode. */
export async function startServer(o: ServerOptions): Promise<DaemonServer> {
  const { socketPath, emit, maxRequestBytes, idleTimeoutMs, maxPerUid } = o;
  prepareSocketDir(socketPath);
  const probe = await probeSocket(socketPath);
  if (probe.state === 'live') throw new NetmapError('EADDRINUSE', `refusing to start: ${probe.detail}`);
  if (probe.state === 'stale') {
    unlinkSync(socketPath);
    emit(`removed stale socket ${socketPath}`);
  }

  const conns = new Set<Conn>();
  let nextConn = 1;
  let inflight = 0, acceptedCount = 0, refused = 0;
  /** Refused connections still closing (not in conns). */
  const refusedSockets = new Set<Socket>();
  let closing: Promise<void> | null = null;

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
      emit(`${callerText(c)}: dropped: ${c.socket.writableLength} bytes of replies not read`);
      c.socket.destroy();
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

  // One request at a time per connection, in order: a slow one (attach starts a thread)
  // delays the replies after it, never reorders them.
  const enqueue = (c: Conn, work: () => void | Promise<void>): void => {
    c.queue = c.queue.then(work).catch((e: unknown) => emit(`conn#${c.id}: internal error: ${e instanceof Error ? e.message : String(e)}`));
  };

  const handleLine = async (c: Conn, line: Buffer): Promise<void> => {
    inflight++;
    try {
      const r = await o.answer(c, line.toString('utf8').replace(/\r$/, ''));
      if (r) reply(c, r);
    } finally {
      inflight--;
    }
  };

  const onConnection = (socket: Socket): void => {
    const c: Conn = { id: nextConn++, socket, peer: peerCred(socket), queue: Promise.resolve(), pending: 0 };
    if (closing) { socket.destroy(); return; }
    let same = 0;
    for (const x of conns) if (x.peer.uid === c.peer.uid) same++;
    if (same >= maxPerUid) {
      refused++;
      // one reply saying why, then the connection goes: other users still get in
      emit(`${callerText(c)}: refused: ${same} connection(s) of uid ${c.peer.uid} already open (at most ${maxPerUid})`);
      socket.on('error', () => { /* the client went away */ });
      refusedSockets.add(socket);
      socket.on('close', () => refusedSockets.delete(socket));
      socket.resume(); // read (and drop) its input, so its end is seen and it closes
      socket.end(JSON.stringify({ id: null, ok: false, error: `too many connections from uid ${c.peer.uid} (at most ${maxPerUid}): close idle ones`, code: 'EUSERS' }) + '\n');
      setTimeout(() => socket.destroy(), 1000).unref();
      return;
    }
    conns.add(c);
    acceptedCount++;
    if (idleTimeoutMs > 0) {
      socket.setTimeout(idleTimeoutMs);
      socket.on('timeout', () => {
        if (c.pending > 0) return; // a request is running (attach): not idle
        emit(`${callerText(c)}: closed after ${idleTimeoutMs / 1000} s without a request`);
        socket.destroy();
      });
    }
    const tooLong = (): void => {
      accepted(c);
      enqueue(c, () => {
        try {
          const error = `request line longer than ${maxRequestBytes} bytes: discarded up to the next newline`;
          emit(`${callerText(c)}: error EMSGSIZE (request): ${error}`);
          reply(c, { id: null, ok: false, error, code: 'EMSGSIZE' });
        } finally {
          answered(c);
        }
      });
    };
    const request = (line: Buffer): void => {
      accepted(c);
      enqueue(c, () => handleLine(c, line).finally(() => answered(c)));
    };
    readLines(socket, maxRequestBytes, request, tooLong);
    socket.on('end', () => enqueue(c, () => { socket.end(); }));
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
    if (o.gid !== undefined) chownSync(socketPath, -1, o.gid);
    chmodSync(socketPath, o.mode);
    ino = statSync(socketPath).ino;
  } catch (e) {
    server.close();
    throw new NetmapError((e as NodeJS.ErrnoException).code ?? 'EIO', `cannot set the permissions of ${socketPath}: ${e instanceof Error ? e.message : String(e)}`);
  }

  return {
    get inflight() { return inflight; },
    get connections() { return conns.size; },
    get accepted() { return acceptedCount; },
    get refused() { return refused; },
    close: () => {
      if (closing) return closing;
      closing = (async () => {
        const serverClosed = new Promise<void>((r) => server.close(() => r()));
        for (const c of conns) c.socket.destroy();
        for (const x of refusedSockets) x.destroy(); // else server.close() waits for them
        await serverClosed;
        try { // libuv removes the socket file on close; make sure, if it is still ours
          if (statSync(socketPath).ino === ino) unlinkSync(socketPath);
        } catch { /* already gone */ }
      })();
      return closing;
    },
  };
}

/**
 * Split a socket's input into lines: `line` gets each complete one (a copy, without its
 * newline; a last line without one counts at the end of input), `tooLong` runs once per line
 * longer than maxBytes, whose bytes are dropped up to the next newline.
 */
function readLines(socket: Socket, maxBytes: number, line: (b: Buffer) => void, tooLong: () => void): void {
  let parts: Buffer[] = [];
  let size = 0;
  let discarding = false;
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
      if (size + (end - start) > maxBytes) {
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
      const l = parts.length ? Buffer.concat([...parts, chunk.subarray(start, end)]) : Buffer.from(chunk.subarray(start, end));
      parts = [];
      size = 0;
      start = nl + 1;
      line(l);
    }
  });
  socket.on('end', () => { // registered before the caller's 'end': the last line comes first
    if (!discarding && size > 0) line(Buffer.concat(parts));
    parts = [];
    size = 0;
  });
}
