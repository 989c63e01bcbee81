// Per-datagram cost of the host stack's echo path in one thread, without a switch: a pipe whose
// other end this loop fills with 64-byte UDP frames (prebuilt, buffers rewritten only once) and
// drains. Prints ns per echoed datagram. Run: node dist/bench/vnf-host-cost.js [seconds]
import { host, open } from '../src/index.js';
import { checksumAdd, checksumFold } from '../src/packet/checksum.js';

const secs = Number(process.argv[2] ?? 3);
const name = `vnfbench${process.pid}`;
const h = host.createHost({ port: `${name}{0`, ip: '10.0.0.1/24', mac: '02:00:00:00:00:01', gratuitous: false, batch: 512 });
const peer = open(`${name}}0`);
const ep = h.udp(7);
// a 64-byte frame (60 + 4 as pkt-gen's -l 64): 14 + 20 + 8 + 22 bytes of payload
const f = new Uint8Array(64);
f.set([2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 8, 0, 0x45, 0, 0, 50, 0, 1, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 2, 10, 0, 0, 1]);
f.set([0x30, 0x39, 0, 7, 0, 30, 0, 0], 34);
for (let i = 42; i < 64; i++) f[i] = i;
let s = checksumFold(checksumAdd(f, 14, 20, 0)); f[24] = ~s >> 8 & 0xff; f[25] = ~s & 0xff;
s = checksumFold(checksumAdd(f, 34, 30, checksumAdd(f, 26, 8, 17 + 30))); const c = ~s & 0xffff; f[40] = c >> 8; f[41] = c & 0xff;
const tx = peer.txRings[0]!, rx = peer.rxRings[0]!;
for (let i = 0; i < tx.numSlots; i++) peer.u8.set(f, tx.buf(i));
let done = 0;
const t0 = performance.now(), end = t0 + secs * 1000;
while (performance.now() < end) {
  for (let r = 0; r < 100; r++) {
    // fill: 512 frames (the buffers hold the frame; pipes swap nothing, so they stay)
    let hd = tx.head; const n = Math.min(512, tx.space());
    for (let k = 0; k < n; k++) { tx.setLen(hd, 64); tx.setSlotFlags(hd, 0); hd = tx.next(hd); }
    tx.advance(hd); peer.txsync();
    h.poll(0);
    const m = ep.recv();
    for (let i = 0; i < m; i++) ep.reply(i);
    h.flush();
    peer.rxsync(); done += rx.space(); rx.advance(rx.tail);
  }
}
const ns = (performance.now() - t0) * 1e6 / done;
console.log(JSON.stringify({ echoed: done, nsPerDatagram: Number(ns.toFixed(1)), mpps: Number((1000 / ns).toFixed(2)), dropped: h.stats().dropped }));
h.close(); peer.close();
