// A forwarder thread of the daemon (vale-ctl -a / -h): it serves the attachments the daemon
// gives it (member.ts: each an interface, its switch port, and with -h the host stack's pair),
// moving frames both ways between each interface and the switch, copying (each interface port
// has a region of its own). By default the daemon gives one thread every attachment of a
// switch, as netmap's kernel forwards for all of a switch's NICs in one context: a frame from
// one attached interface to another (a container's veth to a VXLAN port) crosses the switch
// and leaves in the same round of the same thread, with no wake-up between two threads
// (measured, docs/vxlan.md: 0.18 -> 0.6 Mpps of small frames through a VXLAN overlay).
// NMTS_ATTACH_THREADS=interface gives each attachment a thread of its own.
//
// Each round serves the members in turn: receive (rxsync), move, transmit (txsync), so that
// what one member delivers into the switch is taken by the next in the same round. When no
// member moved anything the thread sleeps on its switch ports' futex words at once
// (futex_waitv(2): woken by deliveries to its own ports only, not by the switch's other
// traffic; one port: its word alone; where futex_waitv is missing: the switch's word for
// pollers of several ports), and one fd-waker thread turns input on any member's sockets into
// a wake-up of the first word. In polling mode (vale-ctl -p on any member) it
// never sleeps, optionally pinned to a CPU. The wake-ups of the switch's receivers it delivers
// to are kept over several busy rounds and done once (common/kept-wakes.ts), always before it
// spins, sleeps or stops.
//
// Control: the thread's words (G: stop, mail) and each attachment's (A: stop, polling, stall);
// new attachments arrive as messages read synchronously when G.mail changes. An error of one
// member (its interface went away, a bad ring) ends that attachment only: it is closed and
// reported (error, then stopped); the others go on.
import { parentPort, receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import '../../index.js';
import { ANY_WORD, portWord, sleepOn, sleepOnMany } from '../../core/wait.js';
import { clock } from '../../core/port.js';
import type { Region } from '../../core/region.js';
import { futexWaitvAvailable } from '../../sys/libc.js';
import { ctlSocketFd } from '../../sys/net.js';
import { pinThisThread, allowedCpus, schedYield } from '../../sys/sched.js';
import { AdaptiveSpin } from '../common/adaptive-spin.js';
import { KeptWakes } from '../common/kept-wakes.js';
import { FdWaker } from '../common/fd-waker.js';
import { setThreadCpus } from '../common/thread-affinity.js';
import { A, G, type DaemonMessage, type ThreadInput, type WorkerMessage } from './shared.js';
import { errorMessage, Member } from './member.js';

const gctrl = new Int32Array((workerData as ThreadInput).ctrl);
const post = (m: WorkerMessage): void => parentPort!.postMessage(m);
const threadFds = (): number[] => (ctlSocketFd() >= 0 ? [ctlSocketFd()] : []);
const cpusAtStart = allowedCpus();

let members: Member[] = [];
let mailSeen = 0;
let burst = 512;
let spin = new AdaptiveSpin(0);
let polling = false;
/**
 * The switch region and the words this thread sleeps on (its members' switch ports: all of
 * them at once when `many`, else `word`), and its waker (rewire()).
 */
let region: Region | null = null;
let word = 0;
let many = false;
let words = new Int32Array(0);
let seqs = new Int32Array(0);
let waker: FdWaker | null = null;
/** A member whose error was caught where it could not be handled at once (before a sleep). */
let failed: Member | null = null;
let failedWith: unknown = null;

/** After the members changed: the sleep word and a waker for every member's sockets. */
function rewire(): void {
  // stopped (and confirmed, or given 2 s) before any member's sockets are closed
  if (waker) waker.stop();
  waker = null;
  polling = members.some((m) => m.polling);
  if (members.length === 0) {
    region = null;
    return;
  }
  region = members[0].vnic.region;
  const ws = members.flatMap((m) => [portWord(m.vnic.rec), ...(m.vhost ? [portWord(m.vhost.rec)] : [])]);
  many = ws.length > 1 && ws.length <= 128 && region.canWaitMany;
  word = ws.length === 1 || many ? ws[0] : ANY_WORD;
  words = Int32Array.from(ws);
  seqs = new Int32Array(ws.length);
  try {
    waker = new FdWaker({ fds: members.flatMap((m) => m.fds), path: region.path, wordOfs: word << 2 });
  } catch {
    waker = null; // without it the interfaces are served every millisecond instead
  }
}

/** New attachments from the daemon (G.mail bumped): open each and report it. */
function takeMail(): void {
  const mail = Atomics.load(gctrl, G.mail);
  if (mail === mailSeen) return;
  mailSeen = mail;
  let changed = false;
  for (;;) {
    const r = receiveMessageOnPort(parentPort as unknown as MessagePort);
    if (!r) break;
    const msg = r.message as DaemonMessage;
    if (msg.type !== 'add') continue;
    const m = new Member(msg.id, msg.input);
    try {
      const ready = m.open(threadFds);
      members.push(m);
      changed = true;
      burst = msg.input.burst;
      spin = new AdaptiveSpin(msg.input.spinUs);
      post(ready);
    } catch (e) {
      post({ type: 'error', id: msg.id, phase: 'open', ...errorMessage(e) });
      post({ type: 'stopped', id: msg.id });
    }
  }
  if (changed) rewire();
}

/** Take members out (their sockets unpolled first), close them and report. */
function retire(gone: Member[], error: unknown): void {
  members = members.filter((m) => !gone.includes(m));
  rewire();
  const now = clock.now();
  for (const m of gone) {
    try { m.publish(now); m.publishKernel(now); } catch { /* the counters as they were */ }
    m.close();
    if (error !== null) post({ type: 'error', id: m.id, phase: 'run', ...errorMessage(error) });
    post({ type: 'stopped', id: m.id });
  }
  if (!polling) restoreCpus();
}

/** Members the daemon asked to stop. */
function reap(): void {
  let gone: Member[] | null = null;
  for (let i = 0; i < members.length; i++) if (members[i].stopRequested) (gone ??= []).push(members[i]);
  if (gone) retire(gone, null);
}

function restoreCpus(): void {
  try { setThreadCpus(cpusAtStart); } catch { /* as it was */ }
}

/** Apply each member's new polling request (vale-ctl -p / -P): the thread polls while any member asks. */
function applyPolling(): void {
  for (let i = 0; i < members.length; i++) {
    const m = members[i];
    const gen = Atomics.load(m.ctrl, A.pollGen);
    if (gen === m.pollGen) continue;
    m.pollGen = gen;
    const on = Atomics.load(m.ctrl, A.pollOn) === 1, cpu = Atomics.load(m.ctrl, A.pollCpu);
    let error = '';
    try {
      if (on && cpu >= 0) pinThisThread(cpu);
      if (!on && !members.some((x) => x !== m && x.polling)) setThreadCpus(cpusAtStart);
    } catch (e) {
      error = e instanceof Error ? e.message : String(e);
    }
    m.polling = on;
    polling = members.some((x) => x.polling);
    post({ type: 'polling', id: m.id, gen, on, cpu: on ? cpu : -1, error });
  }
}

/** Tests only: a member marked stalled blocks the thread, as a stuck forwarder would. */
function stallIfAsked(): void {
  for (let i = 0; i < members.length; i++) {
    const m = members[i];
    if (!m.stalled) continue;
    kept.pause();
    Atomics.wait(m.ctrl, A.stall, 1);
    kept.resume();
  }
}

/** One round over the members: each receives, moves and transmits. Frames moved. */
function round(now: number): number {
  let moved = 0;
  for (let i = 0; i < members.length; i++) {
    const m = members[i];
    try {
      m.sync(true);
      moved += m.run(burst);
      m.sync(false);
      m.publish(now);
    } catch (e) {
      retire([m], e);
      return moved + 1; // (the members changed: a new round, without sleeping)
    }
  }
  return moved;
}

/** Once announced as a waiter: sync; work that came meanwhile cancels the sleep. */
const beforeSleep = {
  beforeSleep(): number {
    let blocked = false;
    for (let i = 0; i < members.length; i++) {
      const m = members[i];
      try {
        m.sync(true);
        if (!m.pending()) continue;
        blocked = true; // frames came meanwhile, or wait for room
        m.sync(false); // reap tx completions: room for what waits
        if (m.run(burst) > 0) return 0;
      } catch (e) {
        failed = m;
        failedWith = e;
        return 0;
      }
    }
    if (!blocked) waker?.arm();
    return blocked || !waker ? 1 : 100;
  },
};

/**
 * Nothing moved: sleep until a switch port receives (futex) or a member's sockets have input
 * (the waker), at most 100 ms (stop, polling and new attachments are seen then). Frames waiting
 * for room in an interface's tx ring are retried after 1 ms. With no member, wait for mail.
 */
function sleep(): void {
  if (region === null) {
    Atomics.wait(gctrl, G.mail, mailSeen, 100);
    return;
  }
  for (let i = 0; i < members.length; i++) {
    try {
      members[i].checkInterface();
    } catch (e) {
      retire([members[i]], e);
      return;
    }
  }
  // core/wait.ts: announce, check again, sleep
  if (!many) sleepOn(region, word, beforeSleep);
  else {
    try {
      sleepOnMany(region, words, seqs, words.length, beforeSleep);
    } catch (e) {
      if (futexWaitvAvailable()) throw e;
      rewire(); // a kernel without futex_waitv (before 5.16): the switch's word from now on
    }
  }
  if (failed !== null) {
    const m = failed, e = failedWith;
    failed = failedWith = null;
    retire([m], e);
  }
}

/**
 * The forwarding loop, until the daemon says stop with no member left. A function, not the
 * module's top level: V8 optimises a top-level loop only by on-stack replacement, and that code
 * kept calling the generic property-load builtin (measured: 2.8 % of all CPU under TCP load).
 */
function serve(): void {
  kept.start();
  try {
    while (Atomics.load(gctrl, G.stop) === 0 || members.length > 0) {
      takeMail();
      reap();
      stallIfAsked();
      applyPolling();
      const moved = round(clock.now());
      kept.afterRound(moved); // a round that moved nothing wakes what was kept
      if (moved > 0) spin.moved();
      else if (!polling) {
        // while frames flow, look again (yielding the CPU) before paying a sleep and a wake-up
        if (members.length > 0 && spin.idle(clock.now())) schedYield();
        else {
          kept.pause();
          sleep();
          kept.resume();
        }
      }
    }
  } finally {
    kept.stop();
  }
}

/** The switch's wake-ups, done once per several busy rounds (apps/common/kept-wakes.ts). */
const kept = new KeptWakes();

try {
  serve();
} catch (e) {
  if (members.length > 0) retire([...members], e); // (not a member's own error: every member ends)
}
(waker as FdWaker | null)?.stop(); // (TypeScript cannot see that serve() set it)
