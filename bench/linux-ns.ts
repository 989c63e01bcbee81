// The --linux cases' network: one namespace `nmtsb<pid>` holding two veth pairs, so that no
// test frame ever reaches eth0 or the root namespace, and the kernel's per-interface counters
// read inside it.
//
//   nmtsbA <-> nmtsbB     transmit: send on A, count on B; receive: send on B, receive on A
//   nmtsbC <-> nmtsbD     forwarding: (B ->) A -> forwarder -> C (-> D, counted)
//
// Teardown is guaranteed as far as a process can: on exit (including process.exit), SIGINT,
// SIGTERM and SIGHUP the children are SIGKILLed and the namespace deleted (its veths go with
// it); a run killed with SIGKILL leaves `nmtsb<pid>`, which the next run deletes (its pid is
// gone), and its children end by themselves (linux-proc.ts wraps them in `timeout`).
import { execFile, execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { existsSync } from 'node:fs';
import { killAll } from './linux-proc.js';

export const A = 'nmtsbA';
export const B = 'nmtsbB';
export const C = 'nmtsbC';
export const D = 'nmtsbD';
export const BRIDGE = 'nmtsbbr0';

export interface IfStats { rxPackets: number; rxDropped: number; txPackets: number; txDropped: number }
/** Counters of every interface of the namespace, and when they were read (ms, performance.now()). */
export interface Sample { t: number; s: Map<string, IfStats> }

let current: string | null = null;

function ip(args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Delete `nmtsb<pid>` namespaces whose process is gone (left by a run killed with SIGKILL). */
export function removeStaleNamespaces(): string[] {
  const removed: string[] = [];
  for (const line of ip(['netns', 'list']).split('\n')) {
    // (nmtsb<pid>h1 and h2: the hosts of the TCP rows, bench/linux-tcp.ts)
    const m = /^(nmtsb(\d+)(?:h[12])?)\b/.exec(line.trim());
    if (!m || existsSync(`/proc/${m[2]}`)) continue;
    try {
      ip(['netns', 'del', m[1]!]);
      removed.push(m[1]!);
    } catch {
      // someone else removed it
    }
  }
  return removed;
}

function vethPair(ns: string, x: string, y: string): void {
  ip(['-n', ns, 'link', 'add', x, 'type', 'veth', 'peer', 'name', y]);
  ip(['-n', ns, 'link', 'set', x, 'up']);
  ip(['-n', ns, 'link', 'set', y, 'up']);
}

/** Create the namespace and both veth pairs; installs the teardown handlers. Returns the namespace. */
export function createTopology(): string {
  if (current) return current;
  const ns = `nmtsb${process.pid}`;
  installTeardown();
  // a namespace with our pid in its name is from an earlier process that had the same pid
  if (existsSync(`/run/netns/${ns}`)) ip(['netns', 'del', ns]);
  ip(['netns', 'add', ns]);
  current = ns;
  // no IPv6 autoconfiguration: router and neighbour solicitations would be counted as test frames
  for (const k of ['all', 'default']) {
    execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-qw', `net.ipv6.conf.${k}.disable_ipv6=1`], { stdio: 'ignore' });
  }
  ip(['-n', ns, 'link', 'set', 'lo', 'up']);
  vethPair(ns, A, B);
  vethPair(ns, C, D);
  return ns;
}

/** The namespace, or an error if prepareLinux() did not create it. */
export function namespace(): string {
  if (!current) throw new Error('the --linux topology is not set up (prepareLinux() was not called)');
  return current;
}

export function teardown(): void {
  killAll();
  rmSync(`/var/run/dpdk/nmtsb${process.pid}`, { recursive: true, force: true }); // testpmd's EAL files
  if (!current) return;
  for (const n of [current, `${current}h1`, `${current}h2`]) {
    try {
      execFileSync('ip', ['netns', 'del', n], { stdio: 'ignore' });
    } catch {
      // already gone, or never made (the TCP rows' hosts)
    }
  }
  current = null;
}

let installed = false;
function installTeardown(): void {
  if (installed) return;
  installed = true;
  process.on('exit', teardown);
  for (const [sig, n] of [['SIGINT', 2], ['SIGTERM', 15], ['SIGHUP', 1]] as const) {
    process.on(sig, () => {
      process.stderr.write(`\nbench: ${sig}: removing the --linux namespace\n`);
      teardown();
      process.exit(128 + n);
    });
  }
}

/** A kernel bridge joining A and C (the forwarding peer); removeBridge() undoes it. */
export function addBridge(ns: string): void {
  ip(['-n', ns, 'link', 'add', BRIDGE, 'type', 'bridge']);
  ip(['-n', ns, 'link', 'set', A, 'master', BRIDGE]);
  ip(['-n', ns, 'link', 'set', C, 'master', BRIDGE]);
  ip(['-n', ns, 'link', 'set', BRIDGE, 'up']);
}

export function removeBridge(ns: string): void {
  try {
    ip(['-n', ns, 'link', 'del', BRIDGE]);
  } catch {
    // not there
  }
}

interface IpLinkJson { ifname: string; stats64?: { rx: { packets: number; dropped: number }; tx: { packets: number; dropped: number } } }

/**
 * The counters of every interface in `ns` (`ip -s -j link`), timed at the middle of the call:
 * spawning `ip` takes a few ms, so a window measured between two samples is off by less than that.
 */
export function sample(ns: string): Promise<Sample> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    execFile('ip', ['-n', ns, '-s', '-j', 'link', 'show'], { encoding: 'utf8' }, (err, out) => {
      const t = (t0 + performance.now()) / 2;
      if (err) return reject(new Error(`ip -s link in ${ns}: ${err.message}`));
      const s = new Map<string, IfStats>();
      for (const l of JSON.parse(out) as IpLinkJson[]) {
        const st = l.stats64;
        if (st) s.set(l.ifname, { rxPackets: st.rx.packets, rxDropped: st.rx.dropped, txPackets: st.tx.packets, txDropped: st.tx.dropped });
      }
      resolve({ t, s });
    });
  });
}

/** What changed on `dev` between two samples. */
export function delta(a: Sample, b: Sample, dev: string): IfStats & { seconds: number } {
  const x = a.s.get(dev), y = b.s.get(dev);
  if (!x || !y) throw new Error(`no counters for ${dev}`);
  return {
    rxPackets: y.rxPackets - x.rxPackets, rxDropped: y.rxDropped - x.rxDropped,
    txPackets: y.txPackets - x.txPackets, txDropped: y.txDropped - x.txDropped, seconds: (b.t - a.t) / 1000,
  };
}

/** Remove any XDP program from dev (a peer that attached one through netlink leaves it behind). */
export function detachXdp(ns: string, dev: string): void {
  try {
    execFileSync('ip', ['-n', ns, 'link', 'set', 'dev', dev, 'xdpgeneric', 'off'], { stdio: 'ignore' });
    execFileSync('ip', ['-n', ns, 'link', 'set', 'dev', dev, 'xdp', 'off'], { stdio: 'ignore' });
  } catch {
    // nothing attached
  }
}
