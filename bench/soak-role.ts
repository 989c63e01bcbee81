// One process of the soak (bench/soak.ts), by role: `rx PORT ID` receives and counts the frames
// of sender ID, `tx PORT ID PPS` sends to receiver ID at PPS frames/s, `mon PORT` counts what a
// monitor of PORT sees, `churn PORT` opens a port and waits to be SIGKILLed. Commands come on
// stdin ("go", "stop"), results leave as one JSON line on stdout.
import { createInterface } from 'node:readline';
import { open, POLLIN } from '../src/index.js';
import type { Port } from '../src/core/port.js';

export const txMac = (id: number): number[] => [0x02, 0x00, 0x5e, 0x00, 0x10, id];
export const rxMac = (id: number): number[] => [0x02, 0x00, 0x5e, 0x00, 0x20, id];
const ETHERTYPE = [0x88, 0xb5];
const FRAME = 60;

let go = false, stop = false;
const say = (o: Record<string, unknown>): void => { process.stdout.write(JSON.stringify(o) + '\n'); };
const nap = new Int32Array(new SharedArrayBuffer(4));
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

/** One frame into the next tx slot (the caller txsyncs). */
function put(p: Port, dst: number[], src: number[]): boolean {
  const r = p.txRings[0]!;
  if (r.space() === 0) return false;
  const h = r.head, off = r.buf(h), u8 = p.u8;
  for (let i = 0; i < 6; i++) { u8[off + i] = dst[i]!; u8[off + 6 + i] = src[i]!; }
  u8[off + 12] = ETHERTYPE[0]!; u8[off + 13] = ETHERTYPE[1]!;
  r.setLen(h, FRAME);
  r.setSlotFlags(h, 0);
  r.advance(r.next(h));
  return true;
}

async function rx(name: string, id: number): Promise<void> {
  const p = open(name);
  put(p, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff], rxMac(id)); // the switch learns where rxMac(id) is
  p.txsync();
  say({ ready: true });
  const want = txMac(id);
  let received = 0, other = 0, quietSince = 0;
  for (;;) {
    await tick(); // stdin
    const n = p.poll(POLLIN, 50);
    if (n === 0) {
      if (stop) {
        if (quietSince === 0) quietSince = performance.now();
        else if (performance.now() - quietSince > 500) break; // drained
      }
      continue;
    }
    quietSince = 0;
    for (const r of p.rxRings) {
      let h = r.head;
      const tail = r.tail, u8 = r.u8;
      while (h !== tail) {
        const b = r.buf(h);
        if (u8[b + 6] === want[0] && u8[b + 7] === want[1] && u8[b + 8] === want[2] && u8[b + 9] === want[3] && u8[b + 10] === want[4] && u8[b + 11] === want[5]) received++;
        else other++;
        h = r.next(h);
      }
      r.advance(h);
    }
  }
  p.rxsync();
  const st = p.stats();
  say({ received, other, rxDrops: st.rxDrops });
  p.close();
}

async function tx(name: string, id: number, pps: number): Promise<void> {
  const p = open(name);
  say({ ready: true });
  while (!go) await new Promise((r) => setTimeout(r, 10));
  const dst = rxMac(id), src = txMac(id);
  const t0 = performance.now();
  let sent = 0, full = 0;
  while (!stop) {
    const due = Math.floor(((performance.now() - t0) / 1000) * pps) - sent;
    let n = 0;
    while (n < due && n < 256 && put(p, dst, src)) n++;
    if (n < due && n < 256) full++;
    if (n > 0) { p.txsync(); sent += n; }
    Atomics.wait(nap, 0, 0, 1);
    await tick(); // stdin
  }
  p.txsync();
  const st = p.stats();
  say({ sent, txPackets: st.txPackets, txDrops: st.txDrops, ringFull: full });
  p.close();
}

async function mon(name: string): Promise<void> {
  const p = open(`${name}/r`);
  say({ ready: true });
  let seen = 0;
  while (!stop) {
    await tick();
    if (p.poll(POLLIN, 50) === 0) continue;
    for (const r of p.rxRings) {
      const tail = r.tail;
      let h = r.head;
      while (h !== tail) { seen++; h = r.next(h); }
      r.advance(h);
    }
  }
  const st = p.stats();
  say({ seen, rxDrops: st.rxDrops });
  p.close();
}

async function churn(name: string): Promise<void> {
  const p = open(name);
  say({ ready: true });
  for (;;) { // until SIGKILL: keep the port in use
    p.poll(POLLIN, 20);
    for (const r of p.rxRings) r.advance(r.tail);
    await new Promise((r) => setTimeout(r, 5));
  }
}

if (process.argv[1]?.endsWith('soak-role.js')) {
  const [role, name, a, b] = process.argv.slice(2);
  createInterface({ input: process.stdin }).on('line', (l) => {
    if (l === 'go') go = true;
    if (l === 'stop') stop = true;
  });
  const run = role === 'rx' ? rx(name!, Number(a)) : role === 'tx' ? tx(name!, Number(a), Number(b)) : role === 'mon' ? mon(name!) : churn(name!);
  run.then(() => process.exit(0), (e: unknown) => {
    process.stderr.write(`soak ${role} ${name}: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
    process.exit(1);
  });
}
