/**
 * Worker for the messageport-* cases (see peer-messageport.ts).
 *
 * role 'tx' sends frames on a MessagePort, role 'rx' receives and counts them.
 * Every frame carries a 32-bit sequence number (little endian, frame offset
 * SEQ_OFF); the receiver checks each one, so every frame is really delivered
 * and looked at as its own unit, and counts mismatches in F_AUX0.
 *
 * Modes:
 *  'frame' one postMessage per frame (a 60-byte Uint8Array, structured-clone
 *          copied); flow control through a shared ack counter.
 *  'alloc' one postMessage per batch: a fresh ArrayBuffer holding `batch`
 *          frames, transferred (no copy); flow control through a shared ack
 *          counter.
 *  'ring'  like 'alloc' but with a fixed pool of `inflight` batch buffers
 *          that the receiver transfers back after reading them (self-clocked,
 *          no allocation of frame memory after start-up).
 */
import type { MessagePort } from 'node:worker_threads';
import {
  F_AUX0,
  F_RX,
  F_TX,
  I_USER0,
  I_USER1,
  PHASE_STOP,
  PHASE_WARMUP,
  phase,
  waitPhaseAtLeast,
} from './control.js';
import { benchWorker } from './worker-kit.js';

export type MpMode = 'frame' | 'alloc' | 'ring';

export interface MpParams {
  port: MessagePort;
  mode: MpMode;
  frameLen: number;
  /** Frames per message (1 in 'frame' mode). */
  batch: number;
  /** Messages ('alloc', 'ring') or frames ('frame') in flight at most. */
  inflight: number;
}

/** Sequence number position in a frame (inside the UDP payload, 4-aligned). */
export const SEQ_OFF = 44;
const I_ACK = I_USER0; // messages/frames consumed by the receiver (wraps as int32)
const I_TX_WAITING = I_USER1; // sender is blocked in Atomics.wait on I_ACK

const bw = benchWorker<MpParams>();
const { ctl, params: p } = bw;
const f64 = ctl.f64;
const i32 = ctl.i32;
/** Frames are laid out with a 4-byte aligned stride so the u32 seq read is aligned. */
const stride = (p.frameLen + 3) & ~3;
const seqWord = SEQ_OFF >> 2;
const strideWords = stride >> 2;

/** An Ethernet/IPv4/UDP frame of frameLen bytes (like pkt-gen's template). */
function templateFrame(len: number): Uint8Array {
  const f = new Uint8Array(len);
  f.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00], 0); // dst, src, IPv4
  const ipLen = len - 14;
  f.set([0x45, 0, ipLen >> 8, ipLen & 0xff, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 1, 0, 1], 14);
  const udpLen = ipLen - 20;
  f.set([0x04, 0xd2, 0x04, 0xd2, udpLen >> 8, udpLen & 0xff, 0, 0], 34);
  for (let i = 42; i < len; i++) f[i] = i & 0xff;
  return f;
}

function batchTemplate(): Uint8Array {
  const one = templateFrame(p.frameLen);
  const all = new Uint8Array(stride * p.batch);
  for (let i = 0; i < p.batch; i++) all.set(one, i * stride);
  return all;
}

// ---------------------------------------------------------------- receiver

function runRx(): void {
  const port = p.port;
  let expect = 0;
  const finish = (): void => {
    clearInterval(poll);
    port.close();
    void bw.finish({ seqErrors: f64[F_AUX0]! });
  };
  const poll = setInterval(() => {
    if (phase(ctl) === PHASE_STOP) finish();
  }, 10);

  if (p.mode === 'frame') {
    port.on('message', (f: Uint8Array) => {
      const seq = (f[SEQ_OFF]! | (f[SEQ_OFF + 1]! << 8) | (f[SEQ_OFF + 2]! << 16) | (f[SEQ_OFF + 3]! << 24)) >>> 0;
      if (seq !== expect || f.length !== p.frameLen) f64[F_AUX0]!++;
      expect = (seq + 1) >>> 0;
      f64[F_RX]!++;
      Atomics.add(i32, I_ACK, 1);
      if (Atomics.load(i32, I_TX_WAITING) !== 0) Atomics.notify(i32, I_ACK);
    });
  } else {
    const n = p.batch;
    port.on('message', (buf: ArrayBuffer) => {
      const w = new Uint32Array(buf);
      let bad = 0;
      let e = expect;
      for (let i = 0, k = seqWord; i < n; i++, k += strideWords) {
        if (w[k] !== e) bad++;
        e = (w[k]! + 1) >>> 0;
      }
      expect = e;
      if (bad !== 0) f64[F_AUX0]! += bad;
      f64[F_RX]! += n;
      if (p.mode === 'ring') {
        port.postMessage(buf, [buf]);
      } else {
        Atomics.add(i32, I_ACK, 1);
        if (Atomics.load(i32, I_TX_WAITING) !== 0) Atomics.notify(i32, I_ACK);
      }
    });
  }
  bw.ready();
}

// ---------------------------------------------------------------- sender

let seq = 0;

function stampSeqs(w: Uint32Array): void {
  const n = p.batch;
  let s = seq;
  for (let i = 0, k = seqWord; i < n; i++, k += strideWords) w[k] = s++;
  seq = s >>> 0;
}

/** Sync sender loop with a shared-ack window ('frame' and 'alloc'). */
function runTxWindowed(sendOne: () => void): void {
  const win = p.inflight;
  let sent = 0; // int32 wrapping, compared with I_ACK
  while (phase(ctl) !== PHASE_STOP) {
    // Send until the window is full, then sleep on the ack counter.
    let ack = Atomics.load(i32, I_ACK);
    while (((sent - ack) | 0) < win) {
      sendOne();
      sent = (sent + 1) | 0;
      if ((sent & 63) === 0) {
        if (phase(ctl) === PHASE_STOP) break;
        ack = Atomics.load(i32, I_ACK);
      }
    }
    Atomics.store(i32, I_TX_WAITING, 1);
    ack = Atomics.load(i32, I_ACK);
    if (((sent - ack) | 0) >= win) Atomics.wait(i32, I_ACK, ack, 1);
    Atomics.store(i32, I_TX_WAITING, 0);
  }
}

function runTx(): void {
  const port = p.port;
  bw.ready();
  waitPhaseAtLeast(ctl, PHASE_WARMUP, 60_000);

  if (p.mode === 'frame') {
    const frame = templateFrame(p.frameLen);
    runTxWindowed(() => {
      const s = seq;
      frame[SEQ_OFF] = s & 0xff;
      frame[SEQ_OFF + 1] = (s >>> 8) & 0xff;
      frame[SEQ_OFF + 2] = (s >>> 16) & 0xff;
      frame[SEQ_OFF + 3] = s >>> 24;
      seq = (s + 1) >>> 0;
      port.postMessage(frame);
      f64[F_TX]!++;
    });
    port.close();
    void bw.finish();
    return;
  }

  const tmpl = batchTemplate();
  if (p.mode === 'alloc') {
    runTxWindowed(() => {
      const buf = new ArrayBuffer(tmpl.byteLength);
      new Uint8Array(buf).set(tmpl);
      stampSeqs(new Uint32Array(buf));
      port.postMessage(buf, [buf]);
      f64[F_TX]! += p.batch;
    });
    port.close();
    void bw.finish();
    return;
  }

  // 'ring': a pool of buffers circulating tx -> rx -> tx.
  let stopped = false;
  const send = (buf: ArrayBuffer): void => {
    stampSeqs(new Uint32Array(buf));
    port.postMessage(buf, [buf]);
    f64[F_TX]! += p.batch;
  };
  const finish = (): void => {
    if (stopped) return;
    stopped = true;
    clearInterval(poll);
    port.close();
    void bw.finish();
  };
  port.on('message', (buf: ArrayBuffer) => {
    if (phase(ctl) === PHASE_STOP) finish();
    else send(buf);
  });
  const poll = setInterval(() => {
    if (phase(ctl) === PHASE_STOP) finish();
  }, 10);
  for (let i = 0; i < p.inflight; i++) {
    const buf = new ArrayBuffer(tmpl.byteLength);
    new Uint8Array(buf).set(tmpl);
    send(buf);
  }
}

try {
  if (bw.role === 'rx') runRx();
  else runTx();
} catch (e) {
  bw.fail(e);
}
