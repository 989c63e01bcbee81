// lb-4pipes-60: `nmts lb` (its own process, one thread) from one input pipe to 4 output
// pipes; one worker thread (tool-lb-worker.ts) feeds the input from the pipe's master end
// with 1024 flows of 60-byte frames and drains the 4 outputs. The rate is what came out of
// lb's pipes in the measured window (lb's forwarded packets); the notes add what was fed
// and lb's own exit line (forwarded, dropped because a pipe was full).
import { registerCase, type CaseResult, type RunOptions } from './cases.js';
import { runPhased } from './harness.js';
import { ForeignLoad, foreignNote, NMTS, start } from './tool-kit.js';
import type { LbTrafficParams } from './tool-lb-worker.js';

const OUTPUTS = 4;
/** lb's default batch: since lb takes at most half the input ring per round, it needs no -b. */

async function lbCase(durationMs: number, opts?: RunOptions): Promise<CaseResult> {
  const parent = `lbb${process.pid}`;
  const input = `${parent}}0`;
  const lb = start(process.execPath, [NMTS, 'lb', '-i', input, '-p', String(OUTPUTS)]);
  try {
    await lb.says(`read it as ${input}_${OUTPUTS - 1}`, 'err');
    const params: LbTrafficParams = { feed: `${parent}{0`, outputs: Array.from({ length: OUTPUTS }, (_, i) => `${input}_${i}`) };
    const load = new ForeignLoad();
    load.start();
    const r = await runPhased({
      workers: [{ role: 'traffic', url: new URL('./tool-lb-worker.js', import.meta.url), params }],
      durationMs, warmupMs: opts?.warmupMs, limitMs: durationMs + (opts?.warmupMs ?? 1000) + 1200,
    });
    const other = load.stop();
    lb.kill('SIGTERM');
    const done = await lb.exited;
    const exit = /(\d+) packets forwarded\.\s+(\d+) packets dropped/.exec(done.out);
    const fed = r.counters.tx / r.seconds / 1e6;
    return {
      packets: r.counters.rx, bytes: r.counters.rx * 60, seconds: r.seconds, gcCount: r.gcCount,
      notes: `nmts lb -i ${input} -p ${OUTPUTS} (default batch): one lb thread, 1024 flows; fed ${fed.toFixed(2)} Mpps; lb's exit line: ${exit ? `${exit[1]} forwarded, ${exit[2]} dropped (pipe full)` : 'missing'}; GCs are the traffic thread's${foreignNote(other)}`,
      extra: { otherCpuPct: other, fedMpps: fed, lbForwarded: exit ? Number(exit[1]) : null, lbDropped: exit ? Number(exit[2]) : null },
    };
  } finally {
    lb.kill('SIGKILL');
  }
}

registerCase({
  name: 'lb-4pipes-60', frameLen: 60, kind: 'tool',
  description: 'nmts lb (one thread, its own process) from an input pipe to 4 pipes; one worker feeds the input and drains the pipes',
  run: lbCase,
});
