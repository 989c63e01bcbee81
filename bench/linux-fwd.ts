// Forwarding rows: a sender on nmtsbB (trafgen, else tcpreplay) puts frames on nmtsbA; the
// forwarder under test moves them from nmtsbA to nmtsbC; the kernel counts them as rx_packets of
// nmtsbD, nmtsbC's peer. Mpps = frames counted on nmtsbD per second. The frames' destination MAC
// is unknown to every switch, so a learning bridge floods them: with two ports, to the other one.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { CaseResult } from './cases.js';
import * as cmd from './linux-commands.js';
import { DST_MAC, FRAME_LEN, SRC_MAC } from './linux-frames.js';
import { limitS, pct, window, type LinuxCtx } from './linux-measure.js';
import { A, B, C, D, addBridge, delta, detachXdp, removeBridge } from './linux-ns.js';
import { peerStatus, requirePeer } from './linux-peers.js';
import { spawnInNs, type Proc } from './linux-proc.js';

/** Sender and receiver of the "pkt-gen on both ends" row: our pkt-gen on netmap:nmtsbB and netmap:nmtsbD. */
function pktGenSender(ctx: LinuxCtx): Proc {
  const argv = cmd.nmts(['pkt-gen', '-i', `netmap:${B}`, '-f', 'tx', '-l', String(FRAME_LEN), '-w', '0',
    '-S', SRC_MAC, '-D', DST_MAC, '-s', '198.18.0.1:1234', '-d', '198.18.0.2:4321']);
  return spawnInNs(ctx.ns, argv, { limitS: limitS(ctx), label: 'nmts pkt-gen tx' });
}

function startSender(ctx: LinuxCtx, pktgen = false): Proc {
  if (pktgen) return pktGenSender(ctx);
  if (peerStatus().get('trafgen')?.ok) return spawnInNs(ctx.ns, cmd.trafgen(B, ctx.trafgenConf), { limitS: limitS(ctx), label: 'trafgen' });
  requirePeer('tcpreplay');
  return spawnInNs(ctx.ns, cmd.tcpreplay(B, ctx.pcap), { limitS: limitS(ctx), label: 'tcpreplay' });
}

/**
 * Send, count on nmtsbD; `forwarder` (if any) must already be forwarding and keep running.
 * `t0`: when the row's set-up began (it counts as warm-up).
 */
async function forwardRow(ctx: LinuxCtx, what: string, forwarder: Proc | null, t0 = performance.now(), pktgen = false): Promise<CaseResult> {
  // with pkt-gen on both ends, a pkt-gen rx on netmap:nmtsbD takes the frames as well
  const receiver = pktgen ? spawnInNs(ctx.ns, cmd.nmts(['pkt-gen', '-i', `netmap:${D}`, '-f', 'rx', '-w', '0']), { limitS: limitS(ctx), label: 'nmts pkt-gen rx' }) : null;
  if (receiver) await receiver.waitFor(/Receiving from/, 6000);
  const sender = startSender(ctx, pktgen);
  try {
    const w = await window(ctx.ns, D, forwarder ? [sender, forwarder] : [sender], t0, ctx.warmupMs, ctx.durationMs);
    const out = delta(w.s0, w.s1, D).rxPackets;
    const arrived = delta(w.s0, w.s1, A).rxPackets;
    return {
      packets: out,
      bytes: out * FRAME_LEN,
      seconds: w.seconds,
      notes: `${what}: ${out} of ${arrived} frames that reached ${A} came out on ${D} (${pct(out, arrived)}); sender ${sender.label} at ${(arrived / w.seconds / 1e6).toFixed(2)} Mpps`,
      extra: { forwarded: out, arrivedOnA: arrived, sender: sender.label },
    };
  } finally {
    await sender.stop(300);
    if (receiver) await receiver.stop(300);
  }
}

/** The kernel's bridge between nmtsbA and nmtsbC: the forwarding peer every Linux box has. */
export async function fwdKernelBridge(ctx: LinuxCtx): Promise<CaseResult> {
  addBridge(ctx.ns);
  try {
    return await forwardRow(ctx, 'Linux bridge', null);
  } finally {
    removeBridge(ctx.ns);
  }
}

async function withForwarder(ctx: LinuxCtx, label: string, argv: string[], ready: RegExp, what: string): Promise<CaseResult> {
  const t0 = performance.now();
  const f = spawnInNs(ctx.ns, argv, { limitS: limitS(ctx), label });
  try {
    await f.waitFor(ready, ctx.warmupMs + 6000);
    return await forwardRow(ctx, what, f, t0);
  } finally {
    await f.stop(300);
    detachXdp(ctx.ns, A); // a killed testpmd leaves its netlink-attached programs behind
    detachXdp(ctx.ns, C);
  }
}

export function fwdDpdk(ctx: LinuxCtx): Promise<CaseResult> {
  requirePeer('dpdk');
  return withForwarder(ctx, 'dpdk-testpmd', cmd.testpmd('io', [A, C]), /packet forwarding/i, 'testpmd io, net_af_xdp');
}

export function fwdNmtsBridge(ctx: LinuxCtx): Promise<CaseResult> {
  return withForwarder(ctx, 'nmts bridge', cmd.nmts(['bridge', '-i', `netmap:${A}`, '-i', `netmap:${C}`]), /Ready to go/, 'nmts bridge');
}

/**
 * VALE with both interfaces attached (`nmts vale-ctl -a SW:nmtsbA`, `-a SW:nmtsbC`). netmap
 * forwards between attached NICs in the kernel; nmts does it in `nmts daemon`, which this row
 * starts with a socket and a shared-memory directory of its own (NMTS_SOCKET, NMTS_SHM_DIR), so
 * it neither meets nor reclaims anything of other runs; stopping it detaches everything.
 */
export async function fwdVale(ctx: LinuxCtx, pktgen = false): Promise<CaseResult> {
  const t0 = performance.now();
  const shm = join(ctx.dir, 'shm');
  mkdirSync(shm, { recursive: true });
  const env = { ...process.env, NMTS_SOCKET: join(ctx.dir, 'nmts.sock'), NMTS_SHM_DIR: shm };
  const sw = `valenmtsb${process.pid}`;
  const daemon = spawnInNs(ctx.ns, cmd.nmts(['daemon']), { limitS: limitS(ctx), label: 'nmts daemon', env });
  try {
    await daemon.waitFor(/started:/, 2000);
    for (const dev of [A, C]) {
      const p = spawnInNs(ctx.ns, cmd.nmts(['vale-ctl', '-a', `${sw}:${dev}`]), { limitS: 10, label: 'nmts vale-ctl', env });
      const e = await p.exited;
      if (e.code !== 0) throw new Error(`vale-ctl -a ${sw}:${dev}: ${p.lastWords()}`);
    }
    return await forwardRow(ctx, `VALE ${sw}${pktgen ? ', pkt-gen tx on B and rx on D' : ''}`, daemon, t0, pktgen);
  } finally {
    await daemon.stop(800);
  }
}
