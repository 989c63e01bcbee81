// Cross-process cases: `nmts pkt-gen` sender and receiver as two separate processes on one
// VALE switch or pipe, as users run them in two terminals. The receiver's own JSON summary
// (packets and seconds from its first packet to the end of its run) gives the rate. On VALE
// the bench announces the receiver's MAC first (announce.ts), so the sender's frames are
// learned unicast, as in vale-60.
// The sender starts once the receiver says it listens, and is stopped (SIGINT: it still
// prints its summary) as soon as the receiver is done; the runner adds the measured start-up
// of both processes to the case's budget (processStarts).
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { registerCase, DEFAULT_WARMUP_MS, type CaseResult, type RunOptions } from './cases.js';
import { announceMac } from './announce.js';
import '../src/index.js';
import { open } from '../src/core/open.js';

const NMTS = fileURLToPath(new URL('../../bin/nmts.js', import.meta.url));

interface PktGen { child: ChildProcess; ready: Promise<void>; done: Promise<{ code: number; out: string; err: string }> }

function pktGen(args: string[]): PktGen {
  const child = spawn(process.execPath, [NMTS, 'pkt-gen', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  let readyNow!: () => void;
  const ready = new Promise<void>((r) => { readyNow = r; });
  child.stdout!.on('data', (d) => {
    out += d;
    if (/^(Receiving from|Sending on) /m.test(out)) readyNow(); // its port is open (pkt-gen prints it on stdout)
  });
  child.stderr!.on('data', (d) => { err += d; });
  const done = new Promise<{ code: number; out: string; err: string }>((resolve) => child.once('exit', (code, sig) => {
    readyNow();
    resolve({ code: code ?? (sig ? 128 : -1), out, err });
  }));
  return { child, ready, done };
}

const lastLines = (s: string): string => s.trim().split('\n').slice(-2).join(' / ');

async function runXproc(rxPort: string, txPort: string, durationMs: number, opts?: RunOptions): Promise<CaseResult> {
  const warm = (opts?.warmupMs ?? DEFAULT_WARMUP_MS) / 1000, dur = durationMs / 1000;
  const vale = !/[{}]/.test(rxPort);
  // a VALE receiver binds only its rx rings (/R), so that the bench can announce its MAC from
  // the port's tx rings (/T): the sender's frames are then learned unicast, as in vale-60
  const rx = pktGen(['-i', vale ? `${rxPort}/R` : rxPort, '-f', 'rx', '--duration', String(warm + dur), '--json']);
  await rx.ready; // the receiver opens its port first
  if (vale) {
    const side = open(`${rxPort}/T`);
    try { announceMac(side, '02:00:00:00:00:02'); } finally { side.close(); }
  }
  // the sender's own duration is only a backstop: it is stopped when the receiver is done
  const tx = pktGen(['-i', txPort, '-f', 'tx', '-S', '02:00:00:00:00:01', '-D', '02:00:00:00:00:02', '--duration', String(warm + dur + 5), '--json']);
  const r = await rx.done;
  tx.child.kill('SIGINT');
  const kill = setTimeout(() => tx.child.kill('SIGKILL'), 3000);
  const t = await tx.done;
  clearTimeout(kill);
  if (r.code !== 0) throw new Error(`pkt-gen receiver exited with ${r.code}: ${lastLines(r.err) || 'no message'}`);
  if (t.code !== 0) throw new Error(`pkt-gen sender exited with ${t.code}: ${lastLines(t.err) || 'no message'}`);
  const rs = JSON.parse(r.out.trim().split('\n').pop()!) as { packets: number; seconds: number };
  const ts = JSON.parse(t.out.trim().split('\n').pop()!) as { packets: number; seconds: number };
  return {
    packets: rs.packets, bytes: rs.packets * 60, seconds: rs.seconds,
    notes: `two processes; sender ${(ts.packets / ts.seconds / 1e6).toFixed(2)} Mpps, receiver counts from its first frame`,
  };
}

registerCase({
  name: 'xproc-pipe-60', description: 'zero-copy pipe, pkt-gen tx and rx in two processes', frameLen: 60, kind: 'netmap', processStarts: 2,
  run: (ms, o) => runXproc(`xpb${process.pid}}1`, `xpb${process.pid}{1`, ms, o),
});
registerCase({
  name: 'xproc-vale-60', description: 'VALE, pkt-gen tx and rx in two processes', frameLen: 60, kind: 'netmap', processStarts: 2,
  run: (ms, o) => runXproc(`valexb${process.pid}:rx`, `valexb${process.pid}:tx`, ms, o),
});
