// XDP programs for the --linux cases, run inside the benchmark's namespace (the kernel resolves
// ifindexes in the caller's namespace):
//
//   node linux-xdp-helper.js sink IF drop|pass
//       attach `return XDP_DROP` (or XDP_PASS) to IF in native mode, print "ready", keep it
//       attached until SIGINT/SIGTERM (the BPF link dies with the process in any case).
//       On a veth, an XDP program is also what turns on the NAPI receive queue that
//       frames sent with XDP_TX/ndo_xdp_xmit need: without one they are dropped.
//
//   node linux-xdp-helper.js gen IF SECONDS [BATCH]
//       generate frames for about SECONDS: BPF_PROG_TEST_RUN in live-frames mode runs
//       `return XDP_TX` with IF as the ingress interface, so every run sends one 60-byte
//       frame out of IF, to its peer. Prints "ready" before the first run and one JSON line
//       {"runs","seconds","interrupted"} at the end.
//       Each test-run call costs tens of ms of set-up and tear-down in the kernel (measured:
//       calls of 100k runs reach 40 % of the rate of one long call), so after a short
//       calibration call the rest is ONE call whose repeat count lasts the remaining time.
//       A signal (SIGINT from the benchmark) interrupts it: the kernel returns EINTR.
import { Asm, loadProgram, testRunLive } from '../src/sys/bpf.js';
import { attachXdp } from '../src/sys/xdp.js';
import { ifIndex, NetError } from '../src/sys/net.js';
import * as K from '../src/sys/kernel-abi.js';
import { frame } from './linux-frames.js';

function constProgram(action: number, name: string): number {
  return loadProgram({ type: K.BPF_PROG_TYPE_XDP, insns: new Asm().movImm(K.BPF_REG_0, action).exit().build(), name, expectedAttachType: K.BPF_XDP });
}

function sink(ifname: string, what: string): void {
  const action = what === 'pass' ? K.XDP_PASS : K.XDP_DROP;
  const link = attachXdp(constProgram(action, `nmtsb_${what}`), ifname, 'native');
  process.stdout.write(`ready ${JSON.stringify({ ifname, action: what, mode: link.mode, progId: link.progId })}\n`);
  const keep = setInterval(() => undefined, 1 << 30);
  const end = (): void => {
    clearInterval(keep);
    link.detach();
    process.exit(0);
  };
  process.once('SIGINT', end);
  process.once('SIGTERM', end);
}

function gen(ifname: string, seconds: number, batch: number): void {
  const prog = constProgram(K.XDP_TX, 'nmtsb_xdp_tx');
  const f = frame();
  const spec = { ifindex: ifIndex(ifname), repeat: 1_000_000, batchSize: batch }; // calibration: 0.1-0.5 s
  process.stdout.write('ready\n');
  const t0 = performance.now();
  let runs = 0;
  let interrupted = false;
  const run = (repeat: number): void => {
    try {
      testRunLive(prog, f, { ...spec, repeat });
      runs += repeat;
    } catch (e) {
      if (!(e instanceof NetError && e.errno === K.EINTR)) throw e;
      interrupted = true;
    }
  };
  run(spec.repeat);
  const left = seconds - (performance.now() - t0) / 1000;
  if (!interrupted && left > 0) run(Math.min(0xffffffff, Math.ceil((runs / (performance.now() - t0)) * 1000 * left * 1.2)));
  process.stdout.write(`${JSON.stringify({ runs, seconds: (performance.now() - t0) / 1000, interrupted })}\n`);
}

const [mode, ifname, arg, batch] = process.argv.slice(2);
if (mode === 'sink' && ifname) sink(ifname, arg ?? 'drop');
else if (mode === 'gen' && ifname) gen(ifname, Number(arg ?? 5), Number(batch ?? 0));
else {
  process.stderr.write('usage: linux-xdp-helper.js sink IF drop|pass | gen IF SECONDS [BATCH]\n');
  process.exit(2);
}
