// VM ports in `nmts top`: the daemon's vhost-user ports (they live in the daemon, not in the
// shared files), asked over its control socket (vhost-list) at each refresh when a daemon
// answers; their rates from the growth of the queue counters between two answers. Without a
// daemon there are no VM ports and top shows the switches alone, as before. An attached VM
// port is also a switch port (valeX:NAME): its line above shows the switch's side.
import { existsSync } from 'node:fs';
import { daemonRequest } from '../daemon/client.js';
import { defaultSocketPath } from '../daemon/socket.js';
import type { VhostPortInfo } from '../vhost-user/manager.js';

/** A sample of the VM ports: when it was taken (monotonic ms) and what the daemon said. */
export interface VmSample { mono: number; vms: VhostPortInfo[] }

/** A VM port's line: rates per second over the last interval (from the guest's side: rx to it, tx from it). */
export interface VmRow {
  name: string;
  /** valeX:NAME when attached, else null. */
  port: string | null;
  connected: boolean;
  rxPps: number;
  txPps: number;
  rxBps: number;
  txBps: number;
  dropsPs: number;
  drops: number;
  kicksPs: number;
  interruptsPs: number;
  kicks: number;
  interrupts: number;
}

/** The daemon's VM ports, or null when no daemon answers within timeoutMs. */
export async function askVms(socketPath = defaultSocketPath(), timeoutMs = 500): Promise<VmSample | null> {
  if (!existsSync(socketPath)) return null;
  try {
    const r = await daemonRequest(socketPath, { cmd: 'vhost-list' }, timeoutMs);
    if (r.ok !== true || !Array.isArray(r.ports)) return null;
    return { mono: performance.now(), vms: r.ports as VhostPortInfo[] };
  } catch {
    return null;
  }
}

interface Sums { rxP: number; txP: number; rxB: number; txB: number; drops: number; kicks: number; irq: number }
function sums(v: VhostPortInfo): Sums {
  const s: Sums = { rxP: 0, txP: 0, rxB: 0, txB: 0, drops: v.noPortDrops, kicks: 0, irq: 0 };
  for (const q of v.queues) {
    if (q.dir === 'rx') { s.rxP += q.packets; s.rxB += q.bytes; } else { s.txP += q.packets; s.txB += q.bytes; }
    s.drops += q.drops; s.kicks += q.kicks; s.irq += q.interrupts;
  }
  return s;
}

/** Rows of `cur`'s VM ports, with rates since `prev` (a port new since then counts from 0). Busiest first. */
export function vmRows(prev: VmSample | null, cur: VmSample): VmRow[] {
  const before = new Map<string, Sums>();
  if (prev) for (const v of prev.vms) before.set(`${v.name}\0${v.path}`, sums(v));
  const dt = prev ? (cur.mono - prev.mono) / 1000 : 0;
  const rows = cur.vms.map((v) => {
    const s = sums(v), b = before.get(`${v.name}\0${v.path}`);
    const rate = (k: keyof Sums): number => {
      if (!(dt > 0)) return 0;
      const d = s[k] - (b ? b[k] : 0);
      return d > 0 ? d / dt : 0;
    };
    return {
      name: v.name, port: v.switch ? `${v.switch}:${v.name}` : null, connected: v.connected,
      rxPps: rate('rxP'), txPps: rate('txP'), rxBps: rate('rxB'), txBps: rate('txB'),
      dropsPs: rate('drops'), drops: s.drops, kicksPs: rate('kicks'), interruptsPs: rate('irq'), kicks: s.kicks, interrupts: s.irq,
    };
  });
  return rows.sort((x, y) => y.rxPps + y.txPps - (x.rxPps + x.txPps) || (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
}
