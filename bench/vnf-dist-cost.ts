// Per-stage cost of the distribution to workers (docs/vnf.md, "Scaling past 2 cores"), in one
// thread and without a switch, so that each stage is timed alone: a pipe whose other end this
// loop fills with 64-byte UDP frames of 64 flows and drains plays the port; the I/O stage
// (dist-spread.ts's Spreader into N worker pipes, then port-forward's Direction back: what the
// n-1 I/O thread runs) and each worker's stage (dist-stages.ts, the code a worker thread runs)
// are timed separately per batch. Prints ns per frame of the I/O stage (and of its rx half,
// port -> pipes, and tx half, pipes -> port: the two threads of n-2) and of the worker stage.
// Run: node dist/bench/vnf-dist-cost.js udp-echo|firewall|l4lb [seconds] [workers]
import { open } from '../src/index.js';
import type { Port } from '../src/core/port.js';
import { Direction } from '../src/apps/common/port-forward.js';
import { Spreader } from '../src/apps/vnf/dist-spread.js';
import { createStage, type VnfSpec } from '../src/apps/vnf/dist-stages.js';
import { lbPipeNames } from '../src/apps/lb/lb.js';
import { checksumAdd, checksumFold } from '../src/packet/checksum.js';
import { parseIPv4 } from '../src/packet/addr.js';

const kind = process.argv[2] ?? 'udp-echo';
const secs = Number(process.argv[3] ?? 3);
const N = Number(process.argv[4] ?? 2);
const tag = `dcost${process.pid}`;
const VNF_MAC = [2, 0, 0, 0, 0, 1];

/** A 64-byte UDP frame 10.0.0.2:sport -> dst:dport (header checksum and UDP checksum complete). */
function frame(dst: number, dport: number, sport: number): Uint8Array {
  const f = new Uint8Array(64);
  f.set([...VNF_MAC, 2, 0, 0, 0, 0, 2, 8, 0, 0x45, 0, 0, 50, 0, 1, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 2, dst >>> 24, (dst >>> 16) & 255, (dst >>> 8) & 255, dst & 255]);
  f.set([sport >> 8, sport & 255, dport >> 8, dport & 255, 0, 30, 0, 0], 34);
  for (let i = 42; i < 64; i++) f[i] = i;
  let s = checksumFold(checksumAdd(f, 14, 20, 0)); f[24] = ~s >> 8 & 0xff; f[25] = ~s & 0xff;
  s = checksumFold(checksumAdd(f, 34, 30, checksumAdd(f, 26, 8, 17 + 30))); const c = ~s & 0xffff; f[40] = c >> 8; f[41] = c & 0xff;
  return f;
}

const vip = parseIPv4('10.0.0.100');
const specs: Record<string, VnfSpec> = {
  'udp-echo': { kind: 'udp-echo', ip: '10.0.0.1/24', udpPort: 7, mac: '02:00:00:00:00:01', staticArp: [], batch: 512 },
  firewall: { kind: 'firewall', rulesText: `${Array.from({ length: 99 }, (_, i) => `deny tcp dst port ${1000 + i}`).join('\n')}\nallow udp\n`, rulesName: 'rules', defaultAllow: false, burst: 512 },
  l4lb: {
    kind: 'l4lb', ip: '10.0.0.1/24', mac: '02:00:00:00:00:01', staticArp: [], batch: 512, vip: '10.0.0.100', vipPort: 80,
    backends: ['10.0.0.11', '10.0.0.12'], mode: 'nat', checkMs: 60_000,
  },
};
const spec = specs[kind];
if (!spec) throw new Error(`usage: vnf-dist-cost.js udp-echo|firewall|l4lb [seconds] [workers]`);
const frames = Array.from({ length: 64 }, (_, i) => (kind === 'l4lb' ? frame(vip, 80, 1000 + i) : frame(parseIPv4('10.0.0.1'), kind === 'udp-echo' ? 7 : 9, 1000 + i)));

// the port (P, read by the I/O stage) and, for the firewall, the other port (Q); gen ends feed and drain them
const gen = open(`${tag}a{0`), P = open(`${tag}a}0`);
const genQ = kind === 'firewall' ? open(`${tag}b{0`) : null, Q = kind === 'firewall' ? open(`${tag}b}0`) : null;
const ports = Q ? [P, Q] : [P];
const pipes = ports.map((p) => lbPipeNames(p.name, [{ count: N }]).map((x) => ({ master: open(x.master.replace(/\/xT$/, '')), slave: x.consumer })));
const spread = new Spreader(P, pipes[0]!.map((x) => x.master), kind === 'l4lb' ? { vip, vipPort: 80 } : null, false);
const gathers: Direction[] = [];
pipes.forEach((row, k) => row.forEach((x) => gathers.push(new Direction(x.master, ports[Q ? 1 - k : k]!, true))));
const stages = Array.from({ length: N }, (_, i) => createStage(spec, pipes.map((row) => row[i]!.slave), i, { busyWait: false }));

const tx = gen.txRings[0]!;
const drains: Port[] = genQ ? [gen, genQ] : [gen];
function feed(): void {
  let hd = tx.head, k = 0;
  const n = Math.min(512, tx.space());
  for (let j = 0; j < n; j++, k = (k + 1) & 63) { gen.u8.set(frames[k]!, tx.buf(hd)); tx.setLen(hd, 64); tx.setSlotFlags(hd, 0); hd = tx.next(hd); }
  tx.advance(hd);
  gen.txsync();
}
if (kind === 'l4lb') {
  // the backends answer ARP (every worker gets the answers): they are up and resolved
  for (const b of [11, 12]) {
    const a = new Uint8Array(60);
    a.set([...VNF_MAC, 2, 0, 0, 0, 0, b, 8, 6, 0, 1, 8, 0, 6, 4, 0, 2, 2, 0, 0, 0, 0, b, 10, 0, 0, b, ...VNF_MAC, 10, 0, 0, 1]);
    gen.inject(a);
  }
  gen.txsync();
  for (let r = 0; r < 20; r++) { P.rxsync(); spread.run(512); for (const s of stages) s.step(0); for (const s of stages) s.warmup?.(); }
}
let rxIo = 0, txIo = 0, work = 0, handed = 0, out = 0;
const before = spread.toWorker.reduce((a, b) => a + b, 0);
const t0 = performance.now(), end = t0 + secs * 1000;
while (performance.now() < end) {
  for (let r = 0; r < 50; r++) {
    feed();
    let t = performance.now();
    P.rxsync();
    spread.run(512);
    let u = performance.now();
    rxIo += u - t;
    for (let i = 0; i < N; i++) stages[i]!.step(0);
    t = performance.now();
    work += t - u;
    for (let j = 0; j < gathers.length; j++) { gathers[j]!.src.rxsync(); gathers[j]!.run(512); }
    for (const p of ports) p.txsync();
    // the pipes' room as the workers left it (the I/O thread's poll does this; one worker's
    // spreader holds frames back until it sees room)
    for (const row of pipes) for (const x of row) x.master.txsync();
    u = performance.now();
    txIo += u - t;
    for (const d of drains) { d.rxsync(); const rx = d.rxRings[0]!; out += rx.space(); rx.advance(rx.tail); }
  }
}
handed = spread.toWorker.reduce((a, b) => a + b, 0) - before;
const nsIo = ((rxIo + txIo) * 1e6) / handed, nsWorker = (work * 1e6) / handed;
console.log(JSON.stringify({
  vnf: kind, workers: N, frames: handed, answered: out, pipeFull: spread.pipeFull.reduce((a, b) => a + b, 0),
  nsPerFrameIo: Number(nsIo.toFixed(1)), nsPerFrameRx: Number(((rxIo * 1e6) / handed).toFixed(1)), nsPerFrameTx: Number(((txIo * 1e6) / handed).toFixed(1)), nsPerFrameWorker: Number(nsWorker.toFixed(1)),
  mppsIo: Number((1000 / nsIo).toFixed(2)), mppsPerWorker: Number((1000 / nsWorker).toFixed(2)),
}));
for (const s of stages) s.close();
for (const row of pipes) for (const x of row) x.master.close();
for (const p of [P, gen, ...(Q ? [Q, genQ!] : [])]) p.close();
