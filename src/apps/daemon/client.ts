// Talking to the nmts daemon: the one client module. daemonRequest sends one request and
// reads one reply (tests, scripts); daemonCall is what a tool uses (vale-ctl -a/-h/-d/-p/-P):
// the daemon's socket checked, a failure reply thrown as a NetmapError, and, for requests that create something, a daemon started on demand when none answers,
// as a user of netmap's vale-ctl expects (netmap's kernel keeps an attachment; here the
// daemon does). The daemon started this way runs detached, logs to a file next to its
// socket, and exits once nothing is attached or held (--exit-when-idle).
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { fileURLToPath } from 'node:url';
import { NetmapError } from '../../core/region.js';
import { checkDaemonSocket, defaultSocketPath, prepareSocketDir } from './socket.js';

export interface DaemonCallOptions {
  /** Start a daemon when none answers (requests that create something). */
  autostart: boolean;
  /** Runs when no daemon answers, before one is started: local checks that throw the real reason. */
  noDaemon?: (socketPath: string) => void;
  /** One line of information for the user (a daemon was started). */
  note: (line: string) => void;
  /** How long a reply may take (attaching starts a thread and binds sockets). */
  timeoutMs?: number;
}

/** A minimal client: one request, one reply (tests, scripts). */
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

type Reply = Record<string, unknown>;
const DOWN = new Set(['ENOENT', 'ECONNREFUSED']);

/** The request's reply, or the error code if no daemon listens on the socket. */
async function ask(socketPath: string, body: Reply, timeoutMs: number): Promise<{ reply: Reply } | { down: string }> {
  try {
    return { reply: await daemonRequest(socketPath, body, timeoutMs) };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code && DOWN.has(code)) return { down: code };
    throw new NetmapError(code ?? 'EIO', `cannot talk to the nmts daemon on ${socketPath}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function unwrap(r: Reply): Reply {
  if (r.ok === true) return r;
  throw new NetmapError(typeof r.code === 'string' ? r.code : 'EIO', typeof r.error === 'string' ? r.error : JSON.stringify(r));
}

/** Where a daemon started on demand logs: next to its socket. */
export function autostartLogPath(socketPath: string): string {
  return `${socketPath.replace(/\.sock$/, '')}.log`;
}

function lastLogLine(path: string): string {
  try {
    const lines = readFileSync(path, 'utf8').trim().split('\n');
    return lines[lines.length - 1]?.replace(/^\S+ nmts-daemon\[\d+\]: /, '') ?? '';
  } catch {
    return '';
  }
}

/** Start `nmts daemon --exit-when-idle` detached; resolves with its pid once it answers. */
async function startDaemon(socketPath: string): Promise<{ pid: number; log: string }> {
  const bin = fileURLToPath(new URL('../../../../bin/nmts.js', import.meta.url));
  prepareSocketDir(socketPath); // the per-user default directory is made 0700
  const log = autostartLogPath(socketPath);
  const fd = openSync(log, 'a', 0o600);
  let exited = false;
  try {
    const child = spawn(process.execPath, [bin, 'daemon', '--socket', socketPath, '--exit-when-idle'], {
      detached: true, stdio: ['ignore', 'ignore', fd], env: process.env,
    });
    child.once('exit', () => { exited = true; });
    child.once('error', () => { exited = true; });
    child.unref();
  } finally {
    closeSync(fd);
  }
  const end = Date.now() + 10_000;
  const answers = async (): Promise<number | null> => {
    const r = await ask(socketPath, { cmd: 'ping' }, 2000).catch(() => null);
    return r && 'reply' in r && r.reply.ok === true ? Number(r.reply.pid) : null;
  };
  for (;;) {
    const pid = await answers();
    if (pid !== null) return { pid, log };
    // it failed, or lost a start race to another daemon, which then answers
    const again = exited ? await answers() : null;
    if (again !== null) return { pid: again, log };
    if (exited || Date.now() > end) {
      const why = lastLogLine(log);
      throw new NetmapError('EIO', `could not start an nmts daemon on ${socketPath}${why ? `: ${why}` : ''} (log: ${log})`);
    }
    await new Promise((res) => setTimeout(res, 50));
  }
}

/**
 * Send `body` to the daemon on the default socket ($NMTS_SOCKET, else /run/nmts/nmts.sock for
 * root, ...) and return its successful reply; a failure reply throws a NetmapError with the
 * daemon's code and message. With `autostart`, a daemon is started when none answers, unless
 * NMTS_DAEMON_AUTOSTART=0.
 */
export async function daemonCall(body: Reply, o: DaemonCallOptions): Promise<Reply> {
  const socketPath = defaultSocketPath();
  const timeoutMs = o.timeoutMs ?? 30_000;
  const first = await ask(socketPath, body, timeoutMs);
  if ('reply' in first) return unwrap(first.reply);
  o.noDaemon?.(socketPath);
  if (!o.autostart || process.env.NMTS_DAEMON_AUTOSTART === '0') {
    throw new NetmapError(first.down, `no nmts daemon answers on ${socketPath}: start one (nmts daemon; contrib/nmts-daemon.service)${o.autostart ? ', or unset NMTS_DAEMON_AUTOSTART=0 to let vale-ctl start it' : ''}`);
  }
  const d = await startDaemon(socketPath);
  o.note(`started nmts daemon (pid ${d.pid}) on ${socketPath}, log ${d.log}; it exits once nothing is attached`);
  const second = await ask(socketPath, body, timeoutMs);
  if ('reply' in second) return unwrap(second.reply);
  throw new NetmapError(second.down, `the nmts daemon on ${socketPath} went away (log: ${d.log})`);
}
