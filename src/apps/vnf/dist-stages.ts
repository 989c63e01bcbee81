// The worker stage of each VNF under distribution (distribute.ts): what one worker thread runs
// on its pipe ends. A stage is built in the worker thread from a plain, cloneable description
// (VnfSpec: no functions cross threads) and driven by dist-thread.ts round by round:
//
//  - udp-echo: a user-space host (src/host) on `PORT}i` echoing its UDP port. Every worker's
//    host has the same address and MAC; worker 0 sends the gratuitous ARP and gets the ARP
//    requests (the spreader's rule), every worker gets the other ARP frames.
//  - firewall: the FirewallEngine (its own connection table) between `A}i` and `B}i`: frames
//    from A arrive on `A}i` and, if allowed, go back out of `A}i` (the I/O stage sends them on
//    out of B), and the other way round; a refused frame is not moved, and counted.
//  - l4lb: the L4lb (its own Maglev table, connection table and health checks) on a host on
//    `PORT}i`; the spreader steers a connection's both directions to one worker.
//
// Each stage reports the worker's counters (rx: frames taken from its pipes, tx: frames it
// sent into them, drops: the VNF's own drops) and the VNF's statistics object.
import { POLLIN, POLLOUT } from '../../core/constants.js';
import { holdWakes, releaseWakes } from '../../core/wait.js';
import { pollPorts } from '../../core/poll.js';
import type { OpenOptions, Port } from '../../core/port.js';
import { Host } from '../../host/host.js';
import { open } from '../../port-kinds.js';
import { Direction, rxPending } from '../common/port-forward.js';
import type { ConntrackTimeouts } from './conntrack.js';
import { FirewallEngine } from './fw-engine.js';
import { parseRules } from './fw-rules.js';
import { L4lb } from './l4lb.js';

/** What a worker runs, cloneable into a worker thread. */
export type VnfSpec =
  | { kind: 'udp-echo'; ip: string; udpPort: number; mac: string; gateway?: string; staticArp: { ip: string; mac: string }[]; batch: number }
  | { kind: 'firewall'; rulesText: string; rulesName: string; defaultAllow: boolean; conntrackLimit?: number; timeouts?: Partial<ConntrackTimeouts>; burst: number }
  | {
    kind: 'l4lb'; ip: string; mac: string; gateway?: string; staticArp: { ip: string; mac: string }[]; batch: number;
    vip: string; vipPort: number; backends: string[]; mode: 'nat' | 'dsr'; tableSize?: number; checkMs?: number; conntrackLimit?: number;
  };

export interface WorkerCounters { rx: number; tx: number; drops: number }

export interface Stage {
  /** One round: take what the pipes hold (waiting up to waitMs when nothing is there), handle it, push the output. Returns frames taken. */
  step(waitMs: number): number;
  /** Before the worker reports ready (the l4lb: its backends' first health check). */
  warmup?(): void;
  /** Whether the pipes hold frames not taken yet (the drain at shutdown). */
  pending(): boolean;
  counters(): WorkerCounters;
  /** The VNF's own statistics (its result object's shape). */
  stats(): Record<string, unknown>;
  close(): void;
}

class EchoStage implements Stage {
  private readonly h: Host;
  private readonly ep;
  echoed = 0;
  constructor(pipe: string, s: Extract<VnfSpec, { kind: 'udp-echo' }>, worker: number, wait: WaitOptions) {
    this.h = new Host({
      port: pipe, ip: s.ip, mac: s.mac, gateway: s.gateway, batch: s.batch, arp: { static: s.staticArp },
      gratuitous: worker === 0, openOptions: wait,
    });
    this.ep = this.h.udp(s.udpPort);
  }
  step(waitMs: number): number {
    const h = this.h, ep = this.ep;
    const n = h.poll(waitMs);
    const got = ep.recv();
    let echoed = 0;
    for (let i = 0; i < got; i++) if (ep.reply(i)) echoed++;
    this.echoed += echoed;
    // the answers go at the next poll, with the release of this batch: one wake-up for both
    return n;
  }
  pending(): boolean { return rxPending(this.h.port); }
  counters(): WorkerCounters {
    const s = this.h.stats();
    return { rx: s.rxFrames!, tx: s.txFrames!, drops: s.dropped };
  }
  stats(): Record<string, unknown> {
    const s = this.h.stats();
    return { received: s.udpIn, echoed: this.echoed, stats: s };
  }
  close(): void { this.h.close(); }
}

class FirewallStage implements Stage {
  private readonly a: Port;
  private readonly b: Port;
  private readonly ab: Direction;
  private readonly ba: Direction;
  private readonly eng: FirewallEngine;
  private readonly ports: Port[];
  private readonly evs = new Int32Array(2);
  private readonly rev = new Int32Array(2);
  private readonly burst: number;
  private nextSweep = 0;
  constructor(pipeA: string, pipeB: string, s: Extract<VnfSpec, { kind: 'firewall' }>, wait: WaitOptions) {
    this.eng = new FirewallEngine({ rules: parseRules(s.rulesText, s.rulesName), defaultAllow: s.defaultAllow, limit: s.conntrackLimit, timeouts: s.timeouts });
    this.a = open(pipeA, wait);
    try { this.b = open(pipeB, wait); } catch (e) { this.a.close(); throw e; }
    // frames from port A arrive on A}i and go back out of A}i (the I/O stage sends them out of B)
    this.ab = new Direction(this.a, this.a, true);
    this.ba = new Direction(this.b, this.b, true);
    this.ab.filter = (u8, off, len, chained) => this.eng.check(u8, off, len, chained);
    this.ba.filter = this.ab.filter;
    this.ports = [this.a, this.b];
    this.burst = s.burst;
  }
  step(waitMs: number): number {
    const a = this.a, b = this.b;
    const ap = rxPending(a), bp = rxPending(b);
    this.evs[0] = ap ? POLLOUT : POLLIN;
    this.evs[1] = bp ? POLLOUT : POLLIN;
    pollPorts(this.ports, this.evs, this.rev, ap || bp ? 0 : waitMs);
    const now = performance.now();
    this.eng.now = now;
    if (now >= this.nextSweep) { this.nextSweep = now + 1000; this.eng.ct.sweep(now); }
    const ab = this.ab, ba = this.ba;
    const before = ab.packets + ab.filtered + ab.drops + ba.packets + ba.filtered + ba.drops;
    holdWakes(); // the I/O thread woken once for both directions (core/wait.ts)
    try {
      ab.run(this.burst);
      ba.run(this.burst);
      a.txsync();
      b.txsync();
    } finally {
      releaseWakes();
    }
    return ab.packets + ab.filtered + ab.drops + ba.packets + ba.filtered + ba.drops - before;
  }
  pending(): boolean { return rxPending(this.a) || rxPending(this.b); }
  counters(): WorkerCounters {
    const ab = this.ab, ba = this.ba;
    return { rx: ab.packets + ab.filtered + ab.drops + ba.packets + ba.filtered + ba.drops, tx: ab.packets + ba.packets, drops: ab.filtered + ab.drops + ba.filtered + ba.drops };
  }
  stats(): Record<string, unknown> {
    const ab = this.ab, ba = this.ba;
    return { aToB: ab.packets, bToA: ba.packets, bytesAToB: ab.bytes, bytesBToA: ba.bytes, tooLong: ab.drops + ba.drops, firewall: this.eng.stats() };
  }
  close(): void {
    try { this.a.txsync(); this.b.txsync(); } finally { this.b.close(); this.a.close(); }
  }
}

class L4lbStage implements Stage {
  private readonly h: Host;
  private readonly lb: L4lb;
  private readonly t0 = performance.now();
  constructor(pipe: string, s: Extract<VnfSpec, { kind: 'l4lb' }>, worker: number, wait: WaitOptions) {
    this.h = new Host({
      port: pipe, ip: s.ip, mac: s.mac, gateway: s.gateway, batch: s.batch, arp: { static: s.staticArp }, aliases: [s.vip],
      gratuitous: worker === 0, openOptions: wait,
    });
    try {
      this.lb = new L4lb(this.h, s);
    } catch (e) { this.h.close(); throw e; }
    this.lb.tick(this.h.now);
  }
  /** Up to one check interval for every backend to answer ARP (as the single-thread l4lb waits). */
  warmup(): void {
    const until = performance.now() + this.lb.checkMs;
    while (performance.now() < until && this.lb.alive.some((a) => !a)) this.step(10);
  }
  step(waitMs: number): number {
    const h = this.h;
    const n = h.poll(waitMs);
    this.lb.tick(h.now);
    // what was forwarded goes at the next poll, with the release of this batch: one wake-up for both
    return n;
  }
  pending(): boolean { return rxPending(this.h.port); }
  counters(): WorkerCounters {
    const c = this.lb.result(0), s = c.host;
    return { rx: s.rxFrames!, tx: s.txFrames!, drops: s.dropped + c.counters.dropped }; // (forwarded frames are host tx frames)
  }
  stats(): Record<string, unknown> {
    return this.lb.result((performance.now() - this.t0) / 1000) as unknown as Record<string, unknown>;
  }
  close(): void { this.h.close(); }
}

/** How a distribution thread's ports wait when nothing is ready (distribute.ts: distributionSpinUs). */
export type WaitOptions = Pick<OpenOptions, 'busyWait' | 'spinUs'>;

/** Build worker `worker`'s stage on its pipe ends (`pipes[k]`: the slave end for port k). */
export function createStage(spec: VnfSpec, pipes: string[], worker: number, wait: WaitOptions): Stage {
  switch (spec.kind) {
    case 'udp-echo': return new EchoStage(pipes[0]!, spec, worker, wait);
    case 'firewall': return new FirewallStage(pipes[0]!, pipes[1]!, spec, wait);
    case 'l4lb': return new L4lbStage(pipes[0]!, spec, worker, wait);
  }
}
