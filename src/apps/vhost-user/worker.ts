// The thread of one vhost-user port in the daemon (vale-ctl -n NAME --vhost-user PATH): it
// serves the front end on PATH (ports/vhost-user/device.ts) and, once the port is attached to a
// switch (vale-ctl -a valeX:NAME), moves frames between the guest's virtqueues and the switch
// port valeX:NAME: the guest's TX queue into the port's tx ring, the port's rx ring into the
// guest's RX buffers. Not attached, what the guest sends is dropped and counted (noPortDrops).
// Batched, one copy per frame (guest memory <-> switch buffers), nothing allocated per frame.
//
// With several queue pairs (VIRTIO_NET_F_MQ, vale-ctl -n ... -C tx,rx,QUEUES) the switch port
// has as many ring pairs: guest TX queue i goes into the port's tx ring i, the port's rx ring i
// into guest RX queue i, and attaching turns on the switch's software RSS (SW_FLAG_RSS) so
// the switch spreads flows over the rx rings by a symmetric flow hash, hence over the guest's
// queues. A ring whose guest queue is not running (the guest enabled fewer pairs) goes to the
// first running RX queue instead: a flow still stays on one queue, in order.
//
// Idle, it sleeps on the switch port's futex word with an fd-waker watching the socket and the
// kick eventfds (apps/common/fd-waker.ts), or in poll(2) when not attached; it asks the guest
// for kicks only before it sleeps (virtqueue.ts wantKicks). The wake-ups of the receivers it
// delivers to are kept over several rounds and done once (common/kept-wakes.ts): a receiver
// sharing this thread's CPU is switched in once per couple of thousand frames, not per burst,
// and always before this thread sleeps or gives way to a full destination. In busy-polling
// mode (vale-ctl -p valeX:NAME, until -P; pinned to a CPU with -C 0,CPU) it never sleeps and never asks for
// kicks: each round tells the guest not to kick (NO_NOTIFY, or avail_event behind its index),
// as DPDK's net_vhost does, and the socket is looked at every 256 rounds. Requests from the
// daemon (attach, detach, polling, stop) are words in a SharedArrayBuffer, seen within 100 ms.
import { parentPort, workerData } from 'node:worker_threads';
import '../../index.js';
import { NS_MOREFRAG } from '../../core/constants.js';
import { portWord, sleepOn } from '../../core/wait.js';
import { PollSet } from '../../sys/net.js';
import { allowedCpus, pinThisThread } from '../../sys/sched.js';
import { setThreadCpus } from '../common/thread-affinity.js';
import type { ValePort } from '../../vale/vale-port.js';
import { VhostUserDevice } from '../../ports/vhost-user/device.js';
import { BROKEN, EMPTY, TOO_LONG, type Virtqueue } from '../../ports/vhost-user/virtqueue.js';
import { setSwitchRss } from '../../vale/switch.js';
import { guestToRingWithHdr, PORT_HDR, ringToGuestWithHdr } from './offload-path.js';
import { FdWaker } from '../common/fd-waker.js';
import { FullDestinationWatch, parseFullPolicy } from '../common/full-destination.js';
import { KeptWakes } from '../common/kept-wakes.js';
import { openAttachedPort } from '../vale-attach/port.js';
import { AttachRequests, errorOf } from './attach-requests.js';
import { DirectHandoff } from './handoff.js';
import { C, Q, S, type VhostWorkerInput, type VhostWorkerMessage } from './shared.js';

const input = workerData as VhostWorkerInput;
const ctrl = new Int32Array(input.ctrl);
const stats = new Float64Array(input.stats);
const post = (m: VhostWorkerMessage): void => parentPort!.postMessage(m);

// NMTS_VM_FULL picks what is done after a txsync found a destination full (for measuring;
// apps/common/full-destination.ts): yield (the default), sleep:US, none (pop on, as before);
// another value stops the port with an error.
let fullWatch: FullDestinationWatch;
try {
  fullWatch = new FullDestinationWatch(parseFullPolicy(process.env.NMTS_VM_FULL || 'yield', 'NMTS_VM_FULL'));
} catch (e) {
  post({ type: 'error', phase: 'open', code: 'EINVAL', message: (e as Error).message });
  process.exit(0);
}

let dev: VhostUserDevice;
try {
  dev = new VhostUserDevice({
    path: input.path, queuePairs: input.queuePairs, offloads: input.offloads === true, log: (l) => post({ type: 'log', line: `${input.name}: ${l}` }),
    // the guest stops its TX queue: what it had queued still goes out (exact counts)
    beforeStop: (q) => { if (q.index & 1) for (let i = 0; i < 64 && guestToSwitchPair(q.index >> 1) > 0; i++) { /* drain */ } },
  });
} catch (e) {
  post({ type: 'error', phase: 'open', ...errorOf(e) });
  process.exit(0);
}
// netmap:NAME opened directly: the opener serves the socket meanwhile (handoff.ts)
const handoff = new DirectHandoff(input.claimed === true ? input.name : null, dev, (l) => post({ type: 'log', line: `${input.name}: ${l}` }));
post({ type: 'ready' });

const pairs = dev.queues.length >> 1;
const offloads = input.offloads === true;
/** The guest's RX queues (even indices) and TX queues (odd), by queue pair. */
const rxqs = dev.queues.filter((q) => (q.index & 1) === 0), txqs = dev.queues.filter((q) => (q.index & 1) === 1);
const burst = input.burst;
let vnic: ValePort | null = null;
let sw = '';
let noPortDrops = 0;
/** vale-ctl -p: never sleep, never ask for kicks. */
let polling = false;
const cpusAtStart = allowedCpus();
const SCRATCH_MAX = 65536 + 64; // a 64 KiB super-frame with its header
const scratch = new Uint8Array(SCRATCH_MAX + 64); // guest frames dropped while not attached are read into it
const scratch32 = new Uint32Array(scratch.buffer), scratch64 = new Float64Array(scratch.buffer);

const requests = new AttachRequests(input.ctrl, input.name, {
  attachedTo: () => sw,
  attach: (name) => {
    handoff.attach(name); // refused while netmap:NAME is open directly
    try {
      // with offloads the frames keep their virtio-net header into the switch (offload-path.ts)
      vnic = openAttachedPort(name, input.name, { rxSlots: input.rxSlots ?? 4096, txSlots: input.txSlots, txRings: pairs, rxRings: pairs, vnetHdrLen: offloads ? PORT_HDR : 0 });
    } catch (e) {
      handoff.detached();
      throw e;
    }
    sw = name;
    if (pairs > 1) {
      setSwitchRss(vnic.region, vnic.sw, true); // flows spread over the guest's queues
      post({ type: 'log', line: `${input.name}: ${pairs} queue pairs: software RSS on for switch ${name}` });
    }
    rebuildWaker();
    return vnic.portIndex;
  },
  detach: () => { closePort(); handoff.detached(); },
  polling: (on, cpu) => {
    if (on && cpu >= 0) pinThisThread(cpu);
    if (!on) setThreadCpus(cpusAtStart);
    polling = on;
    post({ type: 'log', line: `${input.name}: busy polling ${on ? `on${cpu >= 0 ? ` (CPU ${cpu})` : ''}: no kicks asked from the guest` : 'off'}` });
  },
}, post);

function closePort(): void {
  if (!vnic) return;
  kept.flush(); // nothing kept for a port about to go
  try { vnic.close(); } catch { /* nothing more to do */ }
  vnic = null;
  sw = '';
  rebuildWaker();
}

// ---- sleeping: poll(2) on the device's fds, or (attached) the switch futex and a waker ----
let fdGen = -1;
let pollSet = new PollSet(dev.pollFds());
let waker: FdWaker | null = null;
function rebuildWaker(): void {
  fdGen = dev.fdGen;
  pollSet = new PollSet(dev.pollFds());
  if (waker) { waker.stop(); waker = null; }
  if (vnic) {
    try {
      waker = new FdWaker({ fds: dev.pollFds(), path: vnic.region.path, wordOfs: portWord(vnic.rec) << 2 });
    } catch {
      waker = null; // then the sleep is 1 ms at most
    }
  }
}

/** The guest RX queue that takes the port's rx ring i: queue i, or the first running one when it is not running; null: none. */
function rxTarget(i: number): Virtqueue | null {
  if (rxqs[i].running) return rxqs[i];
  for (const q of rxqs) if (q.running) return q;
  return null;
}

function wantKicks(on: boolean): void {
  for (const q of dev.queues) q.wantKicks(on);
}

/** Work waiting: a guest TX queue with frames, or a switch rx ring with frames and guest buffers for them (after an rxsync). */
function workWaiting(): boolean {
  for (const q of txqs) if (q.available() > 0) return true;
  if (vnic === null) return false;
  vnic.rxsync();
  for (let i = 0; i < pairs; i++) {
    if (vnic.rxRings[i].empty()) continue;
    const q = rxTarget(i);
    if (q !== null && q.available() > 0) return true;
  }
  return false;
}

const check = {
  beforeSleep(): number {
    wantKicks(true);
    if (workWaiting()) return 0;
    waker?.arm();
    return waker ? 100 : 1;
  },
};

/** Before sleeping, look at the rings for a while (about 50 µs): a busy guest refills them sooner than a wake-up takes. */
const SPIN_MS = 0.05;
function spin(): boolean {
  const end = performance.now() + SPIN_MS;
  do {
    if (workWaiting()) return true;
  } while (performance.now() < end);
  return false;
}

function sleep(): void {
  if (spin()) return;
  if (vnic) {
    sleepOn(vnic.region, portWord(vnic.rec), check);
  } else {
    wantKicks(true);
    for (const q of txqs) if (q.available() > 0) { wantKicks(false); return; }
    pollSet.poll(100);
  }
  dev.consumeKicks();
  dev.service();
  wantKicks(false);
}

// ---- moving frames ----
/** Take and drop what queue q has (counted in its drops). */
function dropAll(q: Virtqueue): number {
  let n = 0;
  for (; n < burst; n++) {
    const len = q.txPop(scratch, scratch32, scratch64, 0, SCRATCH_MAX);
    if (len === EMPTY || len === BROKEN) break;
    if (len >= 0) { q.drops++; q.packets--; q.bytes -= len; }
  }
  return n;
}

function guestToSwitch(): number {
  let n = 0;
  for (let i = 0; i < pairs; i++) n += guestToSwitchPair(i);
  return n;
}

function switchToGuest(): number {
  if (!vnic) return 0;
  vnic.rxsync();
  let n = 0;
  for (let i = 0; i < pairs; i++) n += switchRingToGuest(i);
  return n;
}

// ---- a full destination: give the CPU away rather than pop frames only to drop them ----
// The switch forwards in this thread's txsync and drops what a full destination ring cannot
// take. A destination stays full while its reader does not run, and on a machine with fewer
// cores than busy threads that reader often waits for this very CPU: popping more guest frames
// then only feeds the switch's drop counter. So after a txsync that found a destination full,
// the next round first gives way (apps/common/full-destination.ts; by default it yields the
// CPU: the reader runs if it waits for this CPU, else the call returns at once). The guest's frames wait in its ring
// meanwhile (the front end sees a full ring, as with a slow NIC). Other destinations are not
// held up: the round still runs right after the yield. (NMTS_VM_FULL: at the top.)
let destFull = false;
/** The switch's wake-ups, done once per several rounds (apps/common/kept-wakes.ts). */
const kept = new KeptWakes();

/** txsync the port's tx ring (forwarding into the switch) and note whether a destination was full. */
function syncTx(): void {
  vnic!.txsync();
  if (fullWatch.noteSync()) destFull = true;
}

function afterFull(): void {
  destFull = false;
  kept.flush(); // the full destination's reader must run
  fullWatch.giveWay();
}

/** Guest TX queue i into the switch port's tx ring i. */
function guestToSwitchPair(i: number): number {
  const txq = txqs[i];
  if (!txq.running) return 0;
  let n = 0;
  if (!vnic) {
    for (;;) {
      const len = txq.txPop(scratch, scratch32, scratch64, 0, SCRATCH_MAX);
      if (len === EMPTY || len === BROKEN) break;
      noPortDrops++;
      if (++n >= burst) break;
    }
    txq.finish();
    return n;
  }
  const tx = vnic.txRings[i], u8 = vnic.u8, u32 = vnic.region.u32, f64 = vnic.region.f64, max = vnic.maxFrame;
  if (offloads) {
    // a 10-byte header (a front end without VERSION_1 and MRG_RXBUF) is not the port's 12: dropped, counted
    const moved = txq.hdrLen === PORT_HDR ? guestToRingWithHdr(txq, tx, u8, u32, f64, burst) : dropAll(txq);
    txq.finish();
    syncTx();
    return moved;
  }
  let k = tx.head;
  const tt = tx.tail;
  while (k !== tt && n < burst) {
    const len = txq.txPop(u8, u32, f64, tx.buf(k), max);
    if (len === EMPTY || len === BROKEN) break;
    if (len === TOO_LONG) continue;
    tx.setLen(k, len);
    tx.setSlotFlags(k, 0);
    k = tx.next(k);
    n++;
  }
  tx.advance(k);
  txq.finish();
  syncTx();
  return n;
}

/** The switch port's rx ring i into guest RX queue i (or the one rxTarget names); vnic is open. */
function switchRingToGuest(i: number): number {
  const v = vnic!;
  const rx = v.rxRings[i], u8 = v.u8, u32 = v.region.u32, f64 = v.region.f64;
  let j = rx.head, n = 0;
  const rt = rx.tail;
  if (j === rt) return 0;
  const target = rxTarget(i);
  if (offloads) return ringToGuestWithHdr(rx, u8, u32, f64, target !== null && target.hdrLen === PORT_HDR ? target : null, target ?? rxqs[i], dev.featuresLo, burst);
  const rxq = target ?? rxqs[i];
  const up = target !== null;
  while (j !== rt && n < burst) {
    if (!up || (rx.slotFlags(j) & NS_MOREFRAG)) { // no guest to take it, or a chain (no offloads yet): dropped
      rxq.drops++;
    } else {
      const r = rxq.rxPush(u8, u32, f64, rx.buf(j), rx.len(j));
      if (r === EMPTY || r === BROKEN) break; // the guest has no buffers: the frames wait (the switch drops when the ring is full)
      if (r === TOO_LONG) { /* counted by the queue */ }
    }
    j = rx.next(j);
    n++;
  }
  rx.advance(j);
  rxq.finish();
  return n;
}

function publish(): void {
  stats[S.connected] = dev.connected ? 1 : 0;
  stats[S.connections] = dev.connections;
  stats[S.featLo] = Number(dev.features & 0xffffffffn);
  stats[S.featHi] = Number(dev.features >> 32n);
  stats[S.portIndex] = vnic ? vnic.portIndex : -1;
  stats[S.noPortDrops] = noPortDrops;
  for (let i = 0; i < dev.queues.length; i++) {
    const q = dev.queues[i], o = S.size + i * Q.n;
    stats[o + Q.running] = q.running ? 1 : 0;
    stats[o + Q.broken] = q.broken ? 1 : 0;
    stats[o + Q.size] = q.size;
    stats[o + Q.packets] = q.packets;
    stats[o + Q.bytes] = q.bytes;
    stats[o + Q.drops] = q.drops;
    stats[o + Q.kicks] = q.kicks;
    stats[o + Q.interrupts] = q.interrupts;
  }
}

let failure: { code: string; message: string } | null = null;
let rounds = 0;
kept.start();
try {
  while (Atomics.load(ctrl, C.stop) === 0) {
    requests.poll();
    handoff.poll();
    if (dev.fdGen !== fdGen) rebuildWaker();
    if (destFull) afterFull();
    const moved = guestToSwitch() + switchToGuest();
    publish();
    kept.afterRound(moved);
    if (polling && !handoff.isLent) {
      wantKicks(false); // also moves avail_event along with EVENT_IDX
      if ((++rounds & 255) === 0) { dev.service(); dev.consumeKicks(); }
    } else if (moved === 0) {
      kept.pause();
      sleep();
      kept.resume();
    }
    else if ((++rounds & 255) === 0) { dev.service(); dev.consumeKicks(); }
  }
} catch (e) {
  failure = errorOf(e);
} finally {
  kept.stop();
  publish();
  (waker as FdWaker | null)?.stop();
  closePort();
  handoff.detached();
  handoff.close();
  try { dev.close(); } catch { /* the socket file may be gone */ }
}
if (failure) post({ type: 'error', phase: 'run', ...failure });
post({ type: 'stopped' });
