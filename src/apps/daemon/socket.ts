// Where the daemon's control socket lives and whether a client may trust it. A non-root
// user's default socket sits in a directory only that user can write ($XDG_RUNTIME_DIR, else
// /tmp/nmts-<uid>/, made 0700): a socket file in a world-writable directory such as /tmp could
// be put there first by another user, who would then see every request (and answer them).
// So clients check, before they talk, that the socket and its directory belong to them or to
// root (or to NMTS_DAEMON_UID, for a daemon running as a user of its own) and that nobody
// else may replace the socket; the daemon checks its directory the same way before listening.
import { lstatSync, mkdirSync, statSync, type Stats } from 'node:fs';
import { dirname, join } from 'node:path';
import { NetmapError } from '../../core/region.js';

const myUid = (): number => (typeof process.geteuid === 'function' ? process.geteuid() : -1);

/** Where the daemon listens unless told otherwise. */
export function defaultSocketPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.NMTS_SOCKET) return env.NMTS_SOCKET;
  const uid = myUid();
  if (uid === 0) return '/run/nmts/nmts.sock';
  if (env.XDG_RUNTIME_DIR) return join(env.XDG_RUNTIME_DIR, 'nmts.sock');
  return `/tmp/nmts-${uid}/nmts.sock`;
}

/** Owners a client trusts with its requests: itself, root, and NMTS_DAEMON_UID if set. */
function trustedOwners(env: NodeJS.ProcessEnv): Set<number> {
  const s = new Set<number>([myUid(), 0]);
  const extra = env.NMTS_DAEMON_UID;
  if (extra !== undefined && /^\d+$/.test(extra)) s.add(Number(extra));
  return s;
}

function whoText(trusted: Set<number>): string {
  const me = myUid();
  const others = [...trusted].filter((u) => u !== me && u !== 0);
  return `you (uid ${me}), root${others.length ? `, NMTS_DAEMON_UID ${others.join(',')}` : ''}`;
}

/** Why a directory lets others replace names in it, or null when it does not. */
function unsafeDir(dir: string, st: Stats, trusted: Set<number>): string | null {
  if (!trusted.has(st.uid)) return `its directory ${dir} belongs to uid ${st.uid}, not to ${whoText(trusted)}`;
  // group or others may write: names in it can be replaced, unless the directory is sticky
  if ((st.mode & 0o022) !== 0 && (st.mode & 0o1000) === 0) {
    return `its directory ${dir} (mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')}) lets other users replace the socket`;
  }
  return null;
}

/**
 * A client's check before it connects: the socket and its directory belong to a trusted owner
 * and cannot be replaced by others. Throws NetmapError EPERM with the reason; ENOENT when
 * there is no socket (no daemon).
 */
export function checkDaemonSocket(path: string, env: NodeJS.ProcessEnv = process.env): void {
  const trusted = trustedOwners(env);
  let st: Stats;
  try {
    st = lstatSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'EIO';
    throw new NetmapError(code, `connect ${code} ${path}: ${code === 'ENOENT' ? 'no such socket (no daemon listens there)' : (e as Error).message}`);
  }
  const refuse = (why: string): never => {
    throw new NetmapError('EPERM', `refusing to talk to ${path}: ${why}; another user may have put it there to pose as the nmts daemon (remove it, or set NMTS_SOCKET to a socket in a directory of yours)`);
  };
  if (!st.isSocket()) refuse('it is not a socket');
  if (!trusted.has(st.uid)) refuse(`it belongs to uid ${st.uid}, not to ${whoText(trusted)}`);
  const dir = dirname(path);
  let ds: Stats;
  try { ds = statSync(dir); } catch (e) { return refuse(`cannot check its directory ${dir}: ${(e as Error).message}`); }
  const why = unsafeDir(dir, ds, trusted);
  if (why) refuse(why);
}

/**
 * The daemon's side: make the socket's directory if needed (0700 for the per-user default
 * under /tmp, 0755 otherwise) and refuse a directory that others could use to replace the socket.
 */
export function prepareSocketDir(path: string, env: NodeJS.ProcessEnv = process.env): void {
  const dir = dirname(path);
  const perUser = dir === dirname(defaultSocketPath({ ...env, NMTS_SOCKET: '' })) && dir.startsWith('/tmp/');
  mkdirSync(dir, { recursive: true, mode: perUser ? 0o700 : 0o755 });
  const ds = lstatSync(dir);
  if (ds.isSymbolicLink() && perUser) throw new NetmapError('EPERM', `refusing to listen in ${dir}: it is a symbolic link (another user may have made it)`);
  const why = unsafeDir(dir, statSync(dir), trustedOwners(env));
  if (why) throw new NetmapError('EPERM', `refusing to listen on ${path}: ${why}`);
}
