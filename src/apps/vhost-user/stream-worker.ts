// The thread of one QEMU `-netdev stream` port in the daemon (vale-ctl -n NAME --stream PATH):
// it listens on the Unix socket PATH, QEMU connects to it (`-netdev stream,server=off,
// addr.type=unix,addr.path=PATH`), and frames travel both ways as a 4-byte big-endian length
// then the frame (no virtio-net header, no FCS). A quick start that needs no shared memory: one
// copy per frame through the socket, the event loop of this thread instead of guest rings.
// It shares the daemon's control words and counters with the vhost-user thread (shared.ts):
// queue 0 is what goes to the guest, queue 1 what the guest sends; `running` means connected.
//
// Guest -> switch: bytes are parsed as they arrive (a frame may span reads) straight into the
// switch port's tx slots, txsync'ed after each read; a frame longer than the switch's buffers,
// one arriving while the port is not attached or its ring is full, is dropped and counted. A
// length of 0 or above 65535 is a broken stream: the connection is closed, logged, and QEMU's
// next connection starts afresh. Switch -> guest: every millisecond (at once while frames
// move) up to a burst of frames is framed into one buffer and written; while the socket is
// full the frames wait in the port's rx ring (the switch drops, and counts, when it fills).
// One front end at a time. Requests (attach, detach, stop) are the words of shared.ts.
import { createServer, type Server, type Socket } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import '../../index.js';
import type { ValePort } from '../../vale/vale-port.js';
import { openAttachedPort } from '../vale-attach/port.js';
import { AttachRequests, errorOf } from './attach-requests.js';
import { C, Q, S, type VhostWorkerInput, type VhostWorkerMessage } from './shared.js';

const input = workerData as VhostWorkerInput;
const ctrl = new Int32Array(input.ctrl);
const stats = new Float64Array(input.stats);
const post = (m: VhostWorkerMessage): void => parentPort!.postMessage(m);
const log = (l: string): void => post({ type: 'log', line: `${input.name}: ${l}` });
const burst = input.burst;
const MAX_LEN = 65535;

let vnic: ValePort | null = null;
let vbuf: Buffer | null = null; // a Buffer view of the port's memory (Buffer.copy into and out of it)
let sw = '';
let conn: Socket | null = null;
let blocked = false;
let connections = 0, noPortDrops = 0;
// counters: [0] to the guest, [1] from the guest
const packets = [0, 0], bytes = [0, 0], drops = [0, 0];

// ---- guest -> switch: the stream parser ----
const hdr = Buffer.alloc(4);
let hdrGot = 0;
let frameLen = 0, frameGot = 0;
/** where the frame being read goes: a slot's buffer offset, or -1 (dropped) */
let dst = -1;

function startFrame(): void {
  dst = -1;
  if (!vnic) { noPortDrops++; return; }
  if (frameLen > vnic.maxFrame) { drops[1]++; return; }
  const tx = vnic.txRings[0];
  if (tx.head === tx.tail) vnic.txsync();
  if (tx.head === tx.tail) { drops[1]++; return; }
  dst = tx.buf(tx.head);
}

function endFrame(): void {
  packets[1]++;
  bytes[1] += frameLen;
  if (dst >= 0 && vnic) {
    const tx = vnic.txRings[0], k = tx.head;
    tx.setLen(k, frameLen);
    tx.setSlotFlags(k, 0);
    tx.advance(tx.next(k));
  }
  hdrGot = 0;
}

function onData(s: Socket, chunk: Buffer): void {
  let i = 0;
  const n = chunk.length;
  while (i < n) {
    if (hdrGot < 4) {
      while (hdrGot < 4 && i < n) hdr[hdrGot++] = chunk[i++];
      if (hdrGot < 4) break;
      frameLen = hdr.readUInt32BE(0);
      frameGot = 0;
      if (frameLen === 0 || frameLen > MAX_LEN) {
        log(`${input.path}: broken stream (a frame length of ${frameLen}); closing the connection`);
        s.destroy();
        return;
      }
      startFrame();
    }
    const take = Math.min(frameLen - frameGot, n - i);
    if (dst >= 0 && vbuf) chunk.copy(vbuf, dst + frameGot, i, i + take);
    frameGot += take;
    i += take;
    if (frameGot === frameLen) endFrame();
  }
  vnic?.txsync();
}

// ---- switch -> guest ----
function switchToGuest(): number {
  if (!vnic || !vbuf) return 0;
  vnic.rxsync();
  const rx = vnic.rxRings[0];
  if (rx.empty()) return 0;
  if (conn && blocked) return 0; // the frames wait until the socket drains
  let j = rx.head, n = 0, total = 0;
  const rt = rx.tail;
  for (let k = j; k !== rt && n < burst; k = rx.next(k), n++) total += 4 + rx.len(k);
  if (!conn) {
    for (let k = 0; k < n; k++) j = rx.next(j);
    drops[0] += n;
    rx.advance(j);
    vnic.rxsync();
    return n;
  }
  const out = Buffer.allocUnsafe(total); // one buffer per burst: socket.write keeps it
  let o = 0;
  for (let k = 0; k < n; k++) {
    const len = rx.len(j), b = rx.buf(j);
    out.writeUInt32BE(len, o);
    vbuf.copy(out, o + 4, b, b + len);
    o += 4 + len;
    packets[0]++;
    bytes[0] += len;
    j = rx.next(j);
  }
  rx.advance(j);
  vnic.rxsync();
  if (!conn.write(out)) blocked = true;
  return n;
}

// ---- requests from the daemon ----
const requests = new AttachRequests(input.ctrl, input.name, {
  attachedTo: () => sw,
  attach: (name) => {
    vnic = openAttachedPort(name, input.name, { rxSlots: 4096 });
    vbuf = Buffer.from(vnic.u8.buffer, vnic.u8.byteOffset, vnic.u8.byteLength);
    sw = name;
    dst = -1; // a frame half read goes nowhere
    return vnic.portIndex;
  },
  detach: () => closePort(),
}, post);

function closePort(): void {
  if (!vnic) return;
  try { vnic.close(); } catch { /* nothing more to do */ }
  if (dst >= 0) drops[1]++; // the frame being read had a slot of the port
  vnic = null;
  vbuf = null;
  sw = '';
  dst = -1;
}

function publish(): void {
  stats[S.connected] = conn ? 1 : 0;
  stats[S.connections] = connections;
  stats[S.portIndex] = vnic ? vnic.portIndex : -1;
  stats[S.noPortDrops] = noPortDrops;
  for (let i = 0; i < 2; i++) {
    const o = S.size + i * Q.n;
    stats[o + Q.running] = conn ? 1 : 0;
    stats[o + Q.packets] = packets[i];
    stats[o + Q.bytes] = bytes[i];
    stats[o + Q.drops] = drops[i];
  }
}

// ---- the socket and the loop ----
const server: Server = createServer((s) => {
  if (conn) {
    log(`${input.path}: refused a second connection (one front end at a time)`);
    s.destroy();
    return;
  }
  conn = s;
  connections++;
  blocked = false;
  hdrGot = 0;
  log(`${input.path}: front end connected`);
  s.setNoDelay?.(true);
  s.on('data', (chunk: Buffer) => { if (conn === s) onData(s, chunk); });
  s.on('drain', () => { blocked = false; });
  s.on('error', (e) => log(`${input.path}: ${e.message}`));
  s.on('close', () => {
    if (conn !== s) return;
    conn = null;
    blocked = false;
    log(`${input.path}: front end disconnected`);
  });
});
server.once('error', (e) => { post({ type: 'error', phase: 'open', ...errorOf(e) }); process.exit(0); });
server.listen(input.path, () => {
  server.on('error', (e) => log(`${input.path}: ${e.message}`));
  post({ type: 'ready' });
  tick();
});

function tick(): void {
  try {
    if (Atomics.load(ctrl, C.stop) !== 0) { stop(null); return; }
    requests.poll();
    const moved = switchToGuest();
    publish();
    if (moved > 0) setImmediate(tick);
    else setTimeout(tick, 1);
  } catch (e) {
    stop(errorOf(e));
  }
}

function stop(failure: { code: string; message: string } | null): void {
  publish();
  conn?.destroy();
  conn = null;
  closePort();
  server.close(() => {
    if (failure) post({ type: 'error', phase: 'run', ...failure });
    post({ type: 'stopped' });
    process.exit(0);
  });
}
