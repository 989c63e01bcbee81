// Cross-process cases: `nmts pkt-gen` sender and receiver as two separate processes on one
// VALE switch or pipe, as users run them in two terminals. The receiver's own JSON summary
// (packets and seconds from its first packet to the end of its run) gives the rate.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { registerCase, DEFAULT_WARMUP_MS, type CaseResult, type RunOptions } from './cases.js';

const NMTS = fileURLToPath(new URL('../../bin/nmts.js', import.meta.url));

function pktGen(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const child = spawn(process.execPath, [NMTS, 'pkt-gen', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; });
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code: code ?? -1, out, err })));
}

async function runXproc(rxPort: string, txPort: string, durationMs: number, opts?: RunOptions): Promise<CaseResult> {
  const warm = (opts?.warmupMs ?? DEFAULT_WARMUP_MS) / 1000, dur = durationMs / 1000;
  const rx = pktGen(['-i', rxPort, '-f', 'rx', '--duration', String(warm + dur), '--json']);
  await new Promise((r) => setTimeout(r, 400)); // the receiver opens its port first
  const tx = pktGen(['-i', txPort, '-f', 'tx', '-S', '02:00:00:00:00:01', '-D', '02:00:00:00:00:02', '--duration', String(warm + dur + 1), '--json']);
  const [r, t] = await Promise.all([rx, tx]);
  if (r.code !== 0 || t.code !== 0) throw new Error(`pkt-gen failed: ${(r.err + t.err).trim().split('\n').slice(-2).join(' / ')}`);
  const rs = JSON.parse(r.out.trim().split('\n').pop()!) as { packets: number; seconds: number };
  const ts = JSON.parse(t.out.trim().split('\n').pop()!) as { packets: number; seconds: number };
  return {
    packets: rs.packets, bytes: rs.packets * 60, seconds: rs.seconds,
    notes: `two processes; sender ${(ts.packets / ts.seconds / 1e6).toFixed(2)} Mpps, receiver counts from its first frame`,
  };
}

registerCase({
  name: 'xproc-pipe-60', description: 'zero-copy pipe, pkt-gen tx and rx in two processes', frameLen: 60, kind: 'netmap',
  run: (ms, o) => runXproc(`xpb${process.pid}}1`, `xpb${process.pid}{1`, ms, o),
});
registerCase({
  name: 'xproc-vale-60', description: 'VALE, pkt-gen tx and rx in two processes', frameLen: 60, kind: 'netmap',
  run: (ms, o) => runXproc(`valexb${process.pid}:rx`, `valexb${process.pid}:tx`, ms, o),
});
