// One XDP redirect program per interface for the whole process. An interface takes one XDP
// program, so the queues that different worker threads bind (pkt-gen -p N on netmap:eth0-i)
// must share it: its file descriptors belong to the process, and this table, a
// SharedArrayBuffer published to worker threads like the process region, records them per
// interface with a reference count. The last thread to let go closes them.
import { getEnvironmentData, isMainThread, setEnvironmentData } from 'node:worker_threads';
import { NetError } from '../../sys/net.js';
import * as K from '../../sys/kernel-abi.js';
import { XskRedirect, type XdpMode } from '../../sys/xdp.js';

const KEY = 'netmap-ts:xdp-redirects:v1';
const ENTRIES = 64;
// per entry (Int32): ifindex, refs, mapFd, progFd, linkFd, mode (0 native, 1 generic), progId
const E = 7;
const LOCK = 0;

function table(): Int32Array | null {
  const sab = getEnvironmentData(KEY);
  return sab instanceof SharedArrayBuffer ? new Int32Array(sab) : null;
}

if (isMainThread && !(getEnvironmentData(KEY) instanceof SharedArrayBuffer)) {
  setEnvironmentData(KEY, new SharedArrayBuffer(4 * (1 + ENTRIES * E)));
}

const shared = table();
// a worker started before netmap-ts was imported has no table: it keeps its own
const local = new Map<number, { redirect: XskRedirect; refs: number }>();
const mine = new Map<number, XskRedirect>(); // this thread's objects over the shared fds

function withLock<T>(t: Int32Array, fn: () => T): T {
  while (Atomics.compareExchange(t, LOCK, 0, 1) !== 0) Atomics.wait(t, LOCK, 1, 1);
  try {
    return fn();
  } finally {
    Atomics.store(t, LOCK, 0);
    Atomics.notify(t, LOCK, 1);
  }
}

function find(t: Int32Array, ifindex: number): number {
  for (let i = 0; i < ENTRIES; i++) if (t[1 + i * E] === ifindex && t[1 + i * E + 1] > 0) return 1 + i * E;
  return -1;
}

/**
 * Attach our redirect program, or, when the interface already has an XDP program (EBUSY) that
 * is another netmap-ts process's, join it: each process binds its own queues.
 */
function attachOrJoin(ifname: string, ifindex: number, queues: number, mode: XdpMode | 'auto'): XskRedirect {
  try {
    return new XskRedirect(ifname, queues, mode);
  } catch (e) {
    if (!(e instanceof NetError && e.errno === K.EBUSY)) throw e;
    const joined = XskRedirect.join(ifname, ifindex);
    if (!joined) throw e;
    return joined;
  }
}

/** The redirect program of interface `ifindex`, attached on first use (refcounted). */
export function acquireRedirect(ifname: string, ifindex: number, queues: number, mode: XdpMode | 'auto'): XskRedirect {
  if (!shared) {
    const have = local.get(ifindex);
    if (have) { have.refs++; return have.redirect; }
    const redirect = attachOrJoin(ifname, ifindex, queues, mode);
    local.set(ifindex, { redirect, refs: 1 });
    return redirect;
  }
  return withLock(shared, () => {
    const at = find(shared, ifindex);
    if (at >= 0) {
      shared[at + 1]++;
      let r = mine.get(ifindex);
      // (an object left from an earlier entry of this interface may hold other descriptors)
      if (!r || r.mapFd !== shared[at + 2] || r.progFd !== shared[at + 3] || r.link.fd !== shared[at + 4]) {
        r = XskRedirect.adopt(ifname, ifindex, shared[at + 2], shared[at + 3], shared[at + 4], shared[at + 5] ? 'generic' : 'native', shared[at + 6]);
        mine.set(ifindex, r);
      }
      return r;
    }
    let free = -1;
    for (let i = 0; i < ENTRIES && free < 0; i++) if (shared[1 + i * E + 1] === 0) free = 1 + i * E;
    const redirect = attachOrJoin(ifname, ifindex, queues, mode);
    if (free >= 0) {
      shared.set([ifindex, 1, redirect.mapFd, redirect.progFd, redirect.link.fd, redirect.mode === 'generic' ? 1 : 0, redirect.link.progId], free);
      mine.set(ifindex, redirect);
    }
    return redirect;
  });
}

/** Drop one reference; the last one detaches the program (closes the fds). */
export function releaseRedirect(ifindex: number, redirect: XskRedirect): void {
  if (!shared) {
    const have = local.get(ifindex);
    if (!have || --have.refs > 0) return;
    local.delete(ifindex);
    have.redirect.close();
    return;
  }
  withLock(shared, () => {
    const at = find(shared, ifindex);
    if (at < 0 || shared[at + 2] !== redirect.mapFd) {
      redirect.close(); // not in the table (it was full): this opener owns it alone
      return;
    }
    if (--shared[at + 1] > 0) return;
    shared.fill(0, at, at + E);
    mine.delete(ifindex);
    redirect.close();
  });
}

/**
 * Drop the reference of a thread that was terminated while it held one (the daemon's
 * forwarder that would not stop): the last reference detaches the program and closes its
 * fds, as that thread's releaseRedirect would have. Returns 'closed', 'released' (others
 * still use it) or 'none' (no shared table, or no entry for ifindex).
 */
export function abandonRedirect(ifname: string, ifindex: number): 'closed' | 'released' | 'none' {
  if (!shared) return 'none';
  return withLock(shared, () => {
    const at = find(shared, ifindex);
    if (at < 0) return 'none';
    if (--shared[at + 1] > 0) return 'released';
    const r = XskRedirect.adopt(ifname, ifindex, shared[at + 2], shared[at + 3], shared[at + 4], shared[at + 5] ? 'generic' : 'native', shared[at + 6]);
    shared.fill(0, at, at + E);
    mine.delete(ifindex);
    r.close();
    return 'closed';
  });
}
