// One side of `xproc-delivery.ts --trace`: pkt-gen's own data loop (txLoop or rxLoop, warmed
// the way pkt-gen warms it) in a process of its own, with its port's poll() wrapped to log
// each call: when it was entered and left (CLOCK_MONOTONIC, µs, comparable between processes),
// whether the thread slept in it (the port's wake sequence word moved: a producer woke it),
// and after it returned the frames waiting in the rx ring and the ring's drop counter. The
// log is written as JSON to the file named on the command line when the loop ends.
//
//   node dist/bench/xproc-delivery-peer.js rx|tx PORT COUNT|STOP_MS RATE OUT.json [CPU]
//
// The receiver stops itself STOP_MS after it said `ready` (then drains its ring, as pkt-gen does).
import '../src/index.js';
import { writeFileSync } from 'node:fs';
import { open } from '../src/core/open.js';
import { POLLIN, POLLOUT } from '../src/core/constants.js';
import { PR, RR } from '../src/core/layout.js';
import { pinThisThread } from '../src/sys/sched.js';
import { LoopIo, rxLoop, txLoop, type LoopConfig } from '../src/apps/pkt-gen/loops.js';
import { DEFAULT_ON_FULL } from '../src/apps/pkt-gen/options.js';
import { HelperThreads } from '../src/apps/common/idle-helpers.js';
import { warmDataPath, WARM_MS } from '../src/apps/pkt-gen/warm-up.js';
import { C, makeShared } from '../src/apps/pkt-gen/shared.js';

const [role, name, countArg, rateArg, outFile, cpuArg] = process.argv.slice(2);
if ((role !== 'rx' && role !== 'tx') || !name || !outFile) {
  process.stderr.write('usage: xproc-delivery-peer rx|tx PORT COUNT|STOP_MS RATE OUT.json [CPU]\n');
  process.exit(2);
}
if (cpuArg !== undefined) pinThisThread(Number(cpuArg));
const count = Number(countArg ?? 0), stopAfter = count, rate = Number(rateArg ?? 0);

const frame = new Uint8Array(60);
frame.set([0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00]);
const config = (): LoopConfig => ({
  fn: role, count: role === 'tx' ? count : 0, burst: 512, rate, onFull: DEFAULT_ON_FULL, frame: frame.slice(), frameLen: 60, frameLenMin: 60, template: null,
  randomSrc: false, randomDst: false, frags: 1, fragSize: 0, vhdr: 0, tagLen: 0, sizes: null, rubbish: false, copyMode: 0,
  dump: false, exitOnIdle: false, family: 4, reportMs: 1000,
});

// as the pkt-gen CLI: the process's helper threads give way to the data loop once it runs
const helpers = HelperThreads.snapshot();
const port = open(name, {});
for (let i = 0; i < 20000; i++) port.check(role === 'rx' ? POLLIN : POLLOUT);
const warm = warmDataPath(config, WARM_MS);

// the log: per poll() call, W numbers: entered, left (µs), slept (0/1), frames waiting after
// it, the ring's drop counter when it was entered and when it left
const W = 6, MAX = 1 << 20;
const log = new Float64Array(MAX * W);
let n = 0;
const u32 = port.region.u32, f64 = port.region.f64;
const seqWord = (port.rec + PR.wakeSeq) >> 2;
const ring = role === 'rx' ? port.rxRings[0] : port.txRings[0];
const drops = (): number => (role === 'rx' ? f64[(ring.ofs + RR.drops) >> 3] : f64[(ring.ofs + RR.txDrops) >> 3]);
const hr = (): number => Number(process.hrtime.bigint() / 1000n);
const poll = port.poll.bind(port);
port.poll = (events: number, timeoutMs?: number): number => {
  const t0 = hr(), s0 = Atomics.load(u32, seqWord), d0 = drops();
  const r = poll(events, timeoutMs);
  if (n < MAX) {
    const o = n++ * W;
    log[o] = t0;
    log[o + 1] = hr();
    log[o + 2] = Atomics.load(u32, seqWord) !== s0 ? 1 : 0;
    log[o + 3] = role === 'rx' ? (ring.tail - ring.head + ring.numSlots) % ring.numSlots : 0;
    log[o + 4] = d0;
    log[o + 5] = drops();
  }
  return r;
};

const shared = makeShared(1);
const stats = new Float64Array(shared.stats), ctrl = new Int32Array(shared.ctrl);
const loopCfg = config();
process.stdout.write('ready\n', () => {
  helpers.idle();
  const start = hr();
  // the receiver stops itself after `stopAfter` ms (it blocks its thread: no signal handler runs)
  const stopAt = start + stopAfter * 1000;
  if (role === 'rx') {
    const logged = port.poll;
    port.poll = (e: number, t?: number): number => {
      if (hr() > stopAt) Atomics.store(ctrl, C.stop, 1);
      return logged(e, 20);
    };
    rxLoop(port, loopCfg, new LoopIo(stats, 0, ctrl, () => {}));
  } else {
    txLoop(port, loopCfg, new LoopIo(stats, 0, ctrl, () => {}));
  }
  const end = hr();
  writeFileSync(outFile, JSON.stringify({ role, start, end, packets: stats[0], drops: drops(), log: Array.from(log.subarray(0, n * W)) }));
  port.close();
  warm.dispose();
  process.exit(0);
});
