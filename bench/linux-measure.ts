// How the --linux cases measure, with the kernel's interface counters as the referee (the same
// counter for every tool, whatever the tool says about itself):
//
// * window():  traffic is already flowing somewhere; wait until `dev`'s rx_packets moves (the tool
//   may need a moment: node start-up, a pcap preload, an XDP attach), let it run until the
//   warm-up has passed, then count over the measured window. Transmit and forwarding rows.
// * receive(): a receiver is up; a sender replays into the other end for the measured window;
//   the receiver's own count against what the kernel delivered to its interface.
//
// Every case must end within warm-up + duration + 2 s (bench/cases.ts), so the waits below are
// bounded accordingly and stops are short (SIGINT, then SIGKILL).
import { delta, detachXdp, sample, type IfStats, type Sample } from './linux-ns.js';
import { sleep, type Proc } from './linux-proc.js';

export interface Window { s0: Sample; s1: Sample; seconds: number; startupMs: number }

function dead(procs: Proc[]): Proc | undefined {
  return procs.find((p) => !p.running);
}

/**
 * Count on `dev` (rx_packets) over `durationMs`, once it has started moving and `warmupMs` have
 * passed since `t0`. `procs` must keep running: if one ends first, its last words are the error.
 */
export async function window(ns: string, dev: string, procs: Proc[], t0: number, warmupMs: number, durationMs: number): Promise<Window> {
  const give = t0 + warmupMs + 6000; // a tool may take a while to start (testpmd fills its mbuf pool without hugepages)
  let first = await sample(ns);
  for (;;) {
    const gone = dead(procs);
    if (gone) throw new Error(`${gone.label} ended: ${gone.lastWords()}`);
    await sleep(50);
    const s = await sample(ns);
    if (delta(first, s, dev).rxPackets > 0) {
      first = s;
      break;
    }
    if (performance.now() > give) {
      throw new Error(`no frames counted on ${dev} ${((performance.now() - t0) / 1000).toFixed(1)} s after start (${procs.map((p) => `${p.label}: ${p.lastWords()}`).join('; ')})`);
    }
  }
  const startupMs = first.t - t0;
  // the window opens when the warm-up is over, and no sooner than 300 ms after the first frame
  await sleep(Math.max(300, t0 + warmupMs - performance.now()));
  const s0 = await sample(ns);
  await sleep(durationMs);
  const s1 = await sample(ns);
  const gone = dead(procs);
  if (gone) throw new Error(`${gone.label} ended during the measurement: ${gone.lastWords()}`);
  return { s0, s1, seconds: (s1.t - s0.t) / 1000, startupMs };
}

export interface ReceiveResult {
  /** What the receiver says it got. */
  received: number;
  /** Its own drop counter, when it has one. */
  drops: number | null;
  /** Frames the kernel delivered to the receiving interface (its rx_packets) while the sender ran. */
  arrived: IfStats;
  /** Frames the sender's interface sent (tx_packets). */
  sent: IfStats;
  /** The sender's active time (its own report when it gives one, else the counter window). */
  seconds: number;
}

export interface ReceiveSpec {
  ns: string;
  receiver: Proc;
  /** Printed by the receiver once it is capturing. */
  ready: RegExp;
  readyMs: number;
  rxDev: string;
  txDev: string;
  /** Starts the sender on txDev (it runs until stopped). */
  startSender: () => Proc;
  /** The sender's own active seconds, from its output, if it reports them. */
  senderSeconds?: (p: Proc) => number | undefined;
  durationMs: number;
  /** The receiver's count (and drops) from its output after it was stopped. */
  parse: (p: Proc) => { received: number; drops: number | null };
}

export async function receive(spec: ReceiveSpec): Promise<ReceiveResult> {
  await spec.receiver.waitFor(spec.ready, spec.readyMs);
  await sleep(200); // a receiver that said "ready" may still be setting up its last ring
  const s0 = await sample(spec.ns);
  const sender = spec.startSender();
  await sleep(spec.durationMs);
  const senderAlive = sender.running;
  await sender.stop(500);
  if (!senderAlive) throw new Error(`${sender.label} ended early: ${sender.lastWords()}`);
  await sleep(300); // frames still queued for the receiver
  const s1 = await sample(spec.ns);
  const receiverAlive = spec.receiver.running;
  await spec.receiver.stop(800);
  detachXdp(spec.ns, spec.rxDev); // a killed testpmd leaves its netlink-attached program behind
  if (!receiverAlive) throw new Error(`${spec.receiver.label} ended during the run: ${spec.receiver.lastWords()}`);
  const r = spec.parse(spec.receiver);
  const arrived = delta(s0, s1, spec.rxDev);
  const sent = delta(s0, s1, spec.txDev);
  const own = spec.senderSeconds?.(sender);
  return { ...r, arrived, sent, seconds: own && own > 0 ? own : spec.durationMs / 1000 };
}

/** "93.1 %", or "-" when there is nothing to divide by. */
export function pct(part: number, whole: number): string {
  return whole > 0 ? `${((100 * part) / whole).toFixed(1)} %` : '-';
}

/** What every --linux case gets: the namespace, the files made for the peers, the timing. */
export interface LinuxCtx {
  ns: string;
  /** A private temporary directory (removed at exit). */
  dir: string;
  /** 1000 copies of the 60-byte frame (tcpreplay). */
  pcap: string;
  /** The same frame as a trafgen configuration. */
  trafgenConf: string;
  warmupMs: number;
  durationMs: number;
}

/** A safety limit for a child's `timeout`: the case's whole time and a margin. */
export function limitS(ctx: LinuxCtx): number {
  return (ctx.warmupMs + ctx.durationMs) / 1000 + 5;
}
