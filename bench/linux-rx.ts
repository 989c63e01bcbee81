// Receive rows: tcpreplay --topspeed sends into nmtsbB, so the frames arrive on nmtsbA, where the
// receiver under test listens. Each row reports what the receiver got against what the kernel
// delivered to nmtsbA (its rx_packets) and what tcpreplay sent, and the receiver's own drop
// counter when it has one. Mpps = frames received / tcpreplay's active seconds.
import type { CaseResult } from './cases.js';
import * as cmd from './linux-commands.js';
import { FRAME_LEN } from './linux-frames.js';
import { limitS, pct, receive, type LinuxCtx } from './linux-measure.js';
import { A, B } from './linux-ns.js';
import { requirePeer } from './linux-peers.js';
import { spawnInNs, type Proc } from './linux-proc.js';

type Parse = (p: Proc) => { received: number; drops: number | null };

/**
 * Who sends into nmtsbB: tcpreplay (the rate it can offer, ~0.5 Mpps here), or a flood of frames
 * generated in XDP (several Mpps). A veth delivers XDP-sent frames only to a peer with NAPI on,
 * i.e. with an XDP program: receivers that attach none get an XDP_PASS program on nmtsbA (`sink`),
 * so their frames go up the stack to them as usual.
 */
export interface RxSender { kind: 'tcpreplay' | 'flood'; sink: boolean }
const TCPREPLAY: RxSender = { kind: 'tcpreplay', sink: false };

async function rxRow(ctx: LinuxCtx, label: string, argv: string[], ready: RegExp, parse: Parse, env?: NodeJS.ProcessEnv, via: RxSender = TCPREPLAY): Promise<CaseResult> {
  if (via.kind === 'tcpreplay') requirePeer('tcpreplay');
  const sink = via.sink ? spawnInNs(ctx.ns, cmd.xdpSink(A, 'pass'), { limitS: limitS(ctx), label: 'xdp pass' }) : null;
  if (sink) await sink.waitFor(/^ready/m, 3000);
  const receiver = spawnInNs(ctx.ns, argv, { limitS: limitS(ctx), label, env });
  try {
    const senderSpan = Math.ceil(ctx.durationMs / 1000) + 2;
    const r = await receive({
      ns: ctx.ns, receiver, ready, readyMs: ctx.warmupMs + 6000, rxDev: A, txDev: B, durationMs: ctx.durationMs, parse,
      startSender: via.kind === 'tcpreplay'
        ? () => spawnInNs(ctx.ns, cmd.tcpreplay(B, ctx.pcap), { limitS: limitS(ctx), label: 'tcpreplay' })
        : () => spawnInNs(ctx.ns, cmd.xdpGen(B, senderSpan), { limitS: limitS(ctx), label: 'xdp flood' }),
      senderSeconds: via.kind === 'tcpreplay' ? (p) => cmd.tcpreplaySeconds(p.out()) : undefined,
    });
    const sent = r.sent.txPackets, arrived = r.arrived.rxPackets;
    const drops = r.drops === null ? `${label} has no drop counter` : `${label} drops ${r.drops}`;
    return {
      packets: r.received,
      bytes: r.received * FRAME_LEN,
      seconds: r.seconds,
      notes: `received ${r.received} of ${arrived} that reached ${A} (${pct(r.received, arrived)}, ${Math.max(0, arrived - r.received)} lost); ${drops}; ${via.kind === 'tcpreplay' ? 'tcpreplay' : 'XDP flood'} sent ${sent} at ${(sent / r.seconds / 1e6).toFixed(2)} Mpps`,
      extra: { received: r.received, arrivedOnA: arrived, sent, drops: r.drops, backlogDrops: r.sent.txDropped, senderSeconds: r.seconds },
    };
  } finally {
    receiver.kill();
    if (sink) await sink.stop(300);
  }
}

export function rxTcpdump(ctx: LinuxCtx, via: RxSender = TCPREPLAY): Promise<CaseResult> {
  requirePeer('tcpdump');
  return rxRow(ctx, 'tcpdump', cmd.tcpdump(A), /listening on/, (p) => {
    const c = cmd.tcpdumpCounters(p.err());
    if (!c) throw new Error(`no counters in tcpdump's output: ${p.lastWords()}`);
    return { received: c.captured, drops: c.dropped };
  }, undefined, via);
}

export function rxNpm(ctx: LinuxCtx, lib: 'cap' | 'pcap', via: RxSender = TCPREPLAY): Promise<CaseResult> {
  requirePeer(lib);
  return rxRow(ctx, `npm ${lib}`, cmd.npmReceiver(lib, A), /^ready/m, (p) => {
    const r = cmd.lastJson<{ received: number; drops: number | null }>(p.out());
    if (!r) throw new Error(`no count from the ${lib} receiver: ${p.lastWords()}`);
    return { received: r.received, drops: r.drops };
  }, undefined, via);
}

export function rxDpdk(ctx: LinuxCtx, via: RxSender = TCPREPLAY): Promise<CaseResult> {
  requirePeer('dpdk');
  return rxRow(ctx, 'dpdk-testpmd', cmd.testpmd('rxonly', [A]), /packet forwarding/i, (p) => {
    const r = cmd.testpmdRx(p.out());
    if (!r) throw new Error(`no statistics in testpmd's output: ${p.lastWords()}`);
    return r;
  }, undefined, via);
}

/** `nmts pkt-gen -f rx` on netmap:nmtsbA; its --json summary gives the count. */
export function rxNmtsPktGen(ctx: LinuxCtx, backend: 'auto' | 'xdp' | 'packet', via: RxSender = TCPREPLAY): Promise<CaseResult> {
  const env = { ...process.env, NMTS_BACKEND: backend };
  const argv = cmd.nmts(['pkt-gen', '-i', `netmap:${A}`, '-f', 'rx', '-w', '0', '--json']);
  return rxRow(ctx, 'nmts pkt-gen', argv, /Receiving from/, (p) => {
    const r = cmd.lastJson<{ packets: number }>(p.out());
    if (!r) throw new Error(`no --json summary from pkt-gen: ${p.lastWords()}`);
    return { received: r.packets, drops: null };
  }, env, via);
}

/** `nmts capture -w FILE` on netmap:nmtsbA (tcpdump's counters at the end). */
export function rxNmtsCapture(ctx: LinuxCtx, file: string, via: RxSender = TCPREPLAY): Promise<CaseResult> {
  return rxRow(ctx, 'nmts capture', cmd.nmts(['capture', '-i', `netmap:${A}`, '-w', file, ...cmd.CAPTURE_FILTER]), /listening on/, (p) => {
    const c = cmd.tcpdumpCounters(p.err());
    if (!c) throw new Error(`no counters in nmts capture's output: ${p.lastWords()}`);
    return { received: c.captured, drops: c.dropped };
  }, undefined, via);
}
