// Transmit rows: a sender on nmtsbA, the frames counted by the kernel as rx_packets of the peer
// nmtsbB. nmtsbB has no XDP program (frames go up its stack and are dropped there as not for
// this host), except in the XDP-generated rows, which need one: a veth accepts frames sent by
// XDP (ndo_xdp_xmit) only when its peer runs an XDP program.
import type { CaseResult } from './cases.js';
import * as cmd from './linux-commands.js';
import { DST_MAC, FRAME_LEN, SRC_MAC } from './linux-frames.js';
import { window, limitS, type LinuxCtx } from './linux-measure.js';
import { A, B, delta, detachXdp } from './linux-ns.js';
import { requirePeer } from './linux-peers.js';
import { spawnInNs, type Proc } from './linux-proc.js';

async function countOnB(ctx: LinuxCtx, sender: Proc, t0: number, others: Proc[] = []): Promise<CaseResult & { extra: Record<string, number | string | boolean | null> }> {
  const w = await window(ctx.ns, B, [sender, ...others], t0, ctx.warmupMs, ctx.durationMs);
  const d = delta(w.s0, w.s1, B);
  const sentA = delta(w.s0, w.s1, A);
  return {
    packets: d.rxPackets,
    bytes: d.rxPackets * FRAME_LEN,
    seconds: w.seconds,
    notes: `counted on ${B}`,
    extra: { rxDropped: d.rxDropped, txDroppedA: sentA.txDropped, startupS: Number((w.startupMs / 1000).toFixed(2)) },
  };
}

/** A peer tool sending on nmtsbA until stopped. */
export async function txPeer(ctx: LinuxCtx, peer: 'tcpreplay' | 'trafgen'): Promise<CaseResult> {
  requirePeer(peer);
  const argv = peer === 'tcpreplay' ? cmd.tcpreplay(A, ctx.pcap) : cmd.trafgen(A, ctx.trafgenConf);
  const t0 = performance.now();
  const p = spawnInNs(ctx.ns, argv, { limitS: limitS(ctx), label: peer });
  try {
    const r = await countOnB(ctx, p, t0);
    const how = peer === 'tcpreplay' ? 'tcpreplay --topspeed -K -l 0 (AF_PACKET sendto per frame)' : 'trafgen --cpus 1 (TX_RING, qdisc bypass)';
    return { ...r, notes: `${how}; ${r.notes}` };
  } finally {
    await p.stop(300);
  }
}

/** dpdk-testpmd txonly on AF_XDP (net_af_xdp, copy mode on a veth). */
export async function txDpdk(ctx: LinuxCtx): Promise<CaseResult> {
  requirePeer('dpdk');
  const t0 = performance.now();
  const p = spawnInNs(ctx.ns, cmd.testpmd('txonly', [A]), { limitS: limitS(ctx), label: 'dpdk-testpmd' });
  try {
    const r = await countOnB(ctx, p, t0);
    return { ...r, notes: `testpmd --forward-mode=txonly --txpkts=60, net_af_xdp, --no-huge; ${r.notes}` };
  } finally {
    await p.stop(500);
    detachXdp(ctx.ns, A); // libxdp attaches through netlink: the program outlives a killed testpmd
  }
}

/**
 * The physical limit: frames generated inside XDP. BPF_PROG_TEST_RUN in live-frames mode runs
 * `return XDP_TX` with nmtsbA as the ingress interface, so each run puts one frame on the wire
 * towards nmtsbB: no socket, no system call per frame, no copy from user space. The sink on
 * nmtsbB is XDP_DROP (the transmit limit, the receiver costing next to nothing) or XDP_PASS
 * (frames also built into skbs and sent up nmtsbB's stack, like the other rows' frames).
 */
export async function txXdp(ctx: LinuxCtx, sinkAction: 'drop' | 'pass'): Promise<CaseResult> {
  const sink = spawnInNs(ctx.ns, cmd.xdpSink(B, sinkAction), { limitS: limitS(ctx), label: 'xdp sink' });
  let gen: Proc | undefined;
  try {
    await sink.waitFor(/^ready/m, 3000);
    const t0 = performance.now();
    gen = spawnInNs(ctx.ns, cmd.xdpGen(A, (ctx.warmupMs + ctx.durationMs) / 1000 + 2), { limitS: limitS(ctx), label: 'xdp generator' });
    const r = await countOnB(ctx, gen, t0, [sink]);
    const mode = cmd.lastJson<{ mode: string }>(sink.out().replace(/^ready /m, '')) ?? { mode: '?' };
    return {
      ...r,
      notes: `BPF_PROG_TEST_RUN live frames, XDP_TX on ${A}; XDP_${sinkAction.toUpperCase()} on ${B} (${mode.mode}); ${r.notes}`,
    };
  } finally {
    await gen?.stop(500);
    await sink.stop(500);
  }
}

/** Our pkt-gen on netmap:nmtsbA, with the backend chosen automatically or forced. */
export async function txNmts(ctx: LinuxCtx, backend: 'auto' | 'xdp' | 'packet'): Promise<CaseResult> {
  const env = { ...process.env, NMTS_BACKEND: backend };
  const t0 = performance.now();
  // -w 0: pkt-gen waits 2 s "for phy reset" on an interface by default; a veth has no PHY
  // the same frame as every peer (linux-frames.ts): pkt-gen's default is a broadcast, which the
  // receiving stack processes much further than a frame for nobody's MAC
  const argv = ['pkt-gen', '-i', `netmap:${A}`, '-f', 'tx', '-l', String(FRAME_LEN), '-w', '0',
    '-S', SRC_MAC, '-D', DST_MAC, '-s', '198.18.0.1:1234', '-d', '198.18.0.2:4321'];
  const p = spawnInNs(ctx.ns, cmd.nmts(argv), { limitS: limitS(ctx), label: 'nmts pkt-gen', env });
  try {
    const r = await countOnB(ctx, p, t0);
    const used = /backend (\S+)/.exec(p.err())?.[1] ?? '?';
    return { ...r, notes: `NMTS_BACKEND=${backend}: ${used}; ${r.notes}`, extra: { ...r.extra, backend: used } };
  } finally {
    await p.stop(300);
  }
}

/** `nmts replay --topspeed -K -l 0` of the same pcap tcpreplay plays, on netmap:nmtsbA (issue #5's replay target). */
export async function txNmtsReplay(ctx: LinuxCtx): Promise<CaseResult> {
  const t0 = performance.now();
  const argv = cmd.nmts(['replay', '-i', `netmap:${A}`, '-t', '-K', '-l', '0', ctx.pcap]);
  const p = spawnInNs(ctx.ns, argv, { limitS: limitS(ctx), label: 'nmts replay' });
  try {
    const r = await countOnB(ctx, p, t0);
    const used = /backend (\S+)/.exec(p.err())?.[1] ?? '?';
    return { ...r, notes: `nmts replay -t -K -l 0 (${used}); ${r.notes}`, extra: { ...r.extra, backend: used } };
  } finally {
    await p.stop(300);
  }
}
