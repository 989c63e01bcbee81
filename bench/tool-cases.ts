// Traffic-tool cases (npm run bench -- --tools): the tools as users run them, in separate
// processes. replay-vale-60: `nmts replay -t -K` of a 60-byte pcap into a VALE switch on
// which a `pkt-gen -f rx` process receives; the rate is replay's own (tcpreplay's "Rated"
// pps), the receiver's count is in the notes (VALE drops what a full ring cannot take).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PcapWriter } from '../src/packet/pcap.js';
import { UdpFrameTemplate } from '../src/packet/frame-builder.js';
import { registerCase, DEFAULT_WARMUP_MS, type CaseResult, type RunOptions } from './cases.js';

const NMTS = fileURLToPath(new URL('../../bin/nmts.js', import.meta.url));

function nmts(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const child = spawn(process.execPath, [NMTS, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; });
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code: code ?? -1, out, err })));
}

/** A pcap of `n` 60-byte UDP frames over 100 flows. */
function makePcap(dir: string, n: number): string {
  const w = new PcapWriter({});
  const t = new UdpFrameTemplate({ family: 4, srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:02', src: '10.0.0.1:1000-10.0.0.1:1099', dst: '10.1.0.1:53', frameLen: 60 });
  const frame = new Uint8Array(60);
  t.write(frame, 0);
  const parts: Uint8Array[] = [w.header()];
  for (let i = 0; i < n; i++) {
    t.advance(frame, 0);
    parts.push(w.record(frame, 0, 60, Math.floor(i / 1e6), i % 1e6));
  }
  const file = join(dir, 'replay-60.pcap');
  writeFileSync(file, Buffer.concat(parts));
  return file;
}

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
    const actual = /Actual: (\d+) packets \((\d+) bytes\) sent in ([\d.]+) seconds/.exec(r.out);
    if (!actual) throw new Error(`no statistics block in replay's output: ${r.out.slice(0, 200)}`);
    const packets = Number(actual[1]), seconds = Number(actual[3]);
    const received = got.code === 0 ? (JSON.parse(got.out.trim().split('\n').pop()!) as { packets: number }).packets : NaN;
    return { packets, bytes: packets * 60, seconds, notes: `replay -t -K into VALE; a pkt-gen receiver process got ${(100 * received / packets).toFixed(1)} % (VALE drops the rest)` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

registerCase({ name: 'replay-vale-60', description: 'nmts replay -t -K, 60-byte pcap, into a VALE switch with a receiver process', frameLen: 60, kind: 'tool', run: replayVale });
