/**
 * Worker for the udp-loopback-* cases (see peer-udp.ts).
 *
 * role 'rx': binds a udp4 socket on 127.0.0.1 (ephemeral port, reported in
 *            its 'ready' info), counts datagrams of the expected length in
 *            F_RX (others in F_AUX0).
 * role 'tx': connects a udp4 socket to 127.0.0.1:<port> and sends frameLen
 *            byte datagrams as fast as it can, keeping at most `inflight`
 *            sends whose callback has not run yet (bounded memory). Sent
 *            datagrams in F_TX, send errors in F_AUX1.
 */
import dgram from 'node:dgram';
import { F_AUX0, F_AUX1, F_RX, F_TX, PHASE_STOP, PHASE_WARMUP, phase, waitPhaseAtLeast } from './control.js';
import { benchWorker } from './worker-kit.js';

export interface UdpParams {
  frameLen: number;
  /** Receiver: SO_RCVBUF request (the kernel caps it at net.core.rmem_max). */
  recvBufferSize?: number;
  /** Sender: sends in flight at most. */
  inflight?: number;
  /** Sender: receiver's port on 127.0.0.1. */
  port?: number;
}

const HOST = '127.0.0.1';
const bw = benchWorker<UdpParams>();
const { ctl, params: p } = bw;
const f64 = ctl.f64;

function runRx(): void {
  const sock = dgram.createSocket({ type: 'udp4', recvBufferSize: p.recvBufferSize });
  const len = p.frameLen;
  sock.on('message', (msg: Buffer) => {
    if (msg.length === len) f64[F_RX]!++;
    else f64[F_AUX0]!++;
  });
  sock.on('error', (e) => bw.fail(e));
  sock.bind(0, HOST, () => {
    const poll = setInterval(() => {
      if (phase(ctl) !== PHASE_STOP) return;
      clearInterval(poll);
      const rcvbuf = sock.getRecvBufferSize();
      sock.close(() => void bw.finish({ rcvbuf }));
    }, 10);
    bw.ready({ port: sock.address().port });
  });
}

function runTx(): void {
  const sock = dgram.createSocket({ type: 'udp4' });
  const frame = Buffer.alloc(p.frameLen);
  for (let i = 0; i < frame.length; i++) frame[i] = i & 0xff;
  const maxInflight = p.inflight ?? 64;
  let inflight = 0;
  let stopped = false;
  let closing = false;
  let sendErrors = 0;

  const finish = (): void => {
    if (closing) return;
    closing = true;
    clearInterval(poll);
    sock.close(() => void bw.finish({ sendErrors }));
  };
  const onSent = (err: Error | null): void => {
    inflight--;
    if (err) {
      sendErrors++;
      f64[F_AUX1]!++;
    } else {
      f64[F_TX]!++;
    }
    if (stopped) {
      if (inflight === 0) finish();
      return;
    }
    if (phase(ctl) === PHASE_STOP) {
      stopped = true;
      if (inflight === 0) finish();
      return;
    }
    // Refill the window; the callback of a send that completed synchronously
    // runs on a later tick, so this does not recurse.
    while (inflight < maxInflight) {
      inflight++;
      sock.send(frame, onSent);
    }
  };
  const poll = setInterval(() => {
    if (phase(ctl) === PHASE_STOP) {
      stopped = true;
      if (inflight === 0) finish();
    }
  }, 10);

  sock.on('error', (e) => bw.fail(e));
  sock.connect(p.port!, HOST, () => {
    bw.ready();
    // Blocking here is fine: nothing else to do until the warm-up starts.
    waitPhaseAtLeast(ctl, PHASE_WARMUP, 60_000);
    if (phase(ctl) === PHASE_STOP) {
      stopped = true;
      finish();
      return;
    }
    while (inflight < maxInflight) {
      inflight++;
      sock.send(frame, onSent);
    }
  });
}

try {
  if (bw.role === 'rx') runRx();
  else runTx();
} catch (e) {
  bw.fail(e);
}
