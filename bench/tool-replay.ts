// replay-vale-60: `nmts replay -t -K` of a 60-byte pcap into a VALE switch on which a
// `pkt-gen -f rx` process receives; the rate is replay's own (tcpreplay's "Rated" pps), the
// receiver's count is in the notes (VALE drops what a full ring cannot take).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { registerCase, DEFAULT_WARMUP_MS, type CaseResult, type RunOptions } from './cases.js';
import { makePcap, nmts, replayStats } from './tool-kit.js';

async function replayVale(durationMs: number, opts?: RunOptions): Promise<CaseResult> {
  const dir = mkdtempSync(join(tmpdir(), 'nmts-bench-'));
  try {
    const file = makePcap(dir, 10_000);
    const sw = `valerb${process.pid}`;
    // the whole case must fit in warm-up + duration + 2 s: receiver up first, replay for the
    // measured duration (its own statistics give the rate), receiver ends right after
    const warm = (opts?.warmupMs ?? DEFAULT_WARMUP_MS) / 1000, dur = durationMs / 1000;
    const rx = nmts(['pkt-gen', '-i', `${sw}:rx`, '-f', 'rx', '--duration', String(dur + warm * 0.8), '--json']);
    await new Promise((r) => setTimeout(r, 400));
    const r = await nmts(['replay', '-i', `${sw}:tx`, '-t', '-K', '-q', '-l', '0', '--duration', String(dur), file]);
    const got = await rx;
    if (r.code !== 0) throw new Error(`replay failed: ${r.err.trim().split('\n').pop()}`);
    const { packets, seconds } = replayStats(r.out);
    const received = got.code === 0 ? (JSON.parse(got.out.trim().split('\n').pop()!) as { packets: number }).packets : NaN;
    return { packets, bytes: packets * 60, seconds, notes: `replay -t -K into VALE; a pkt-gen receiver process got ${(100 * received / packets).toFixed(1)} % (VALE drops the rest)` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

registerCase({ name: 'replay-vale-60', description: 'nmts replay -t -K, 60-byte pcap, into a VALE switch with a receiver process', frameLen: 60, kind: 'tool', processStarts: 1, run: replayVale });
