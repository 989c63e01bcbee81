// Helpers shared by the traffic-tool cases (--tools): running `nmts` and other programs as
// child processes, the 60-byte test pcap, tcpreplay's statistics lines, and the CPU other
// processes used during a measurement (ForeignLoad: the machine has 2 cores).
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PcapWriter } from '../src/packet/pcap.js';
import { UdpFrameTemplate } from '../src/packet/frame-builder.js';

export const NMTS = fileURLToPath(new URL('../../bin/nmts.js', import.meta.url));

export interface Exited { code: number; out: string; err: string }

export interface Child {
  /** Resolves at exit with the status and everything written. */
  exited: Promise<Exited>;
  /** Resolves once stdout (or stderr) has printed `text` (rejects if the child exits first). */
  says(text: string, stream?: 'out' | 'err'): Promise<void>;
  kill(sig?: NodeJS.Signals): void;
}

/** Start a program, collecting its output. */
export function start(cmd: string, args: string[]): Child {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const text = { out: '', err: '' };
  let waiting: Array<{ text: string; stream: 'out' | 'err'; res: () => void; rej: (e: Error) => void }> = [];
  const check = (): void => {
    waiting = waiting.filter((w) => { if (text[w.stream].includes(w.text)) { w.res(); return false; } return true; });
  };
  child.stdout.setEncoding('utf8').on('data', (d: string) => { text.out += d; check(); });
  child.stderr.setEncoding('utf8').on('data', (d: string) => { text.err += d; check(); });
  const exited = new Promise<Exited>((resolve) => {
    child.once('error', (e) => { text.err += String(e); resolve({ code: -1, out: text.out, err: text.err }); });
    child.once('close', (code) => resolve({ code: code ?? -1, out: text.out, err: text.err }));
  });
  let over: Exited | null = null;
  const fail = (w: { text: string; rej: (e: Error) => void }, r: Exited): void => {
    w.rej(new Error(`${cmd} exited (${r.code}) before saying '${w.text}': ${r.err.trim().split('\n').pop() ?? ''}`));
  };
  void exited.then((r) => {
    over = r;
    for (const w of waiting.splice(0)) fail(w, r);
  });
  return {
    exited,
    says: (t, stream = 'out') => new Promise<void>((res, rej) => {
      const w = { text: t, stream, res, rej };
      if (text[stream].includes(t)) res();
      else if (over) fail(w, over);
      else waiting.push(w);
    }),
    kill: (sig = 'SIGTERM') => { child.kill(sig); },
  };
}

/** `nmts ARGS` in a child process. */
export function nmts(args: string[]): Promise<Exited> {
  return start(process.execPath, [NMTS, ...args]).exited;
}

/** A compiled bench script (`tool-rx.js`, ...) in a child process. */
export function benchScript(script: string, args: string[], prefix: string[] = []): Child {
  const path = fileURLToPath(new URL(script, import.meta.url));
  return prefix.length ? start(prefix[0]!, [...prefix.slice(1), process.execPath, path, ...args]) : start(process.execPath, [path, ...args]);
}

/** True if `cmd` runs (`cmd --version`, or the given arguments, exits 0). */
export function installed(cmd: string, args = ['--version']): boolean {
  return spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
}

/** A pcap of `n` 60-byte UDP frames over 100 flows (to 02:00:00:00:00:02), 1 µs apart. */
export function makePcap(dir: string, n: number): string {
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

export interface ReplayStats { packets: number; bytes: number; seconds: number; pps: number }

/** tcpreplay's (and nmts replay's) `Actual:` and `Rated:` lines. */
export function replayStats(out: string): ReplayStats {
  const a = /Actual: (\d+) packets \((\d+) bytes\) sent in ([\d.]+) seconds/.exec(out);
  const r = /Rated: [\d.]+ Bps, [\d.]+ Mbps, ([\d.]+) pps/.exec(out);
  if (!a || !r) throw new Error(`no statistics block in the output: ${out.slice(0, 200)}`);
  return { packets: Number(a[1]), bytes: Number(a[2]), seconds: Number(a[3]), pps: Number(r[1]) };
}

/** Signed error in percent of `got` against `want`, e.g. "+0.012 %". */
export function errPct(got: number, want: number): string {
  const e = (got / want - 1) * 100;
  if (Math.abs(e) < 0.0005) return '0.000 %';
  return `${e > 0 ? '+' : '−'}${Math.abs(e).toFixed(3)} %`;
}

/** user + nice + system + steal ticks of all CPUs (/proc/stat; irq and softirq left out). */
function machineTicks(): number {
  const f = readFileSync('/proc/stat', 'latin1').split('\n', 1)[0]!.trim().split(/\s+/).map(Number);
  return f[1]! + f[2]! + f[3]! + f[8]!;
}

/** utime + stime + cutime + cstime of a process (all its threads and its reaped children), 0 if gone. */
function procTicks(pid: number): number {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ').map(Number); // f[0] is field 3 (state)
    return f[11]! + f[12]! + f[13]! + f[14]!;
  } catch {
    return 0;
  }
}

/** This process and every live descendant. */
function ownPids(): number[] {
  const parent = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const s = readFileSync(`/proc/${d}/stat`, 'latin1');
      parent.set(Number(d), Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]));
    } catch { /* gone */ }
  }
  const mine = new Set([process.pid]);
  for (let grew = true; grew;) {
    grew = false;
    for (const [pid, pp] of parent) if (!mine.has(pid) && mine.has(pp)) { mine.add(pid); grew = true; }
  }
  return [...mine];
}

/**
 * CPU used by processes other than this one and its descendants between start() and
 * stop(), in % of one core: on a shared 2-core machine a rate measured while something
 * else ran is not this code's rate. Linux only (0 elsewhere). Children that exit meanwhile
 * are counted through this process's cutime/cstime once reaped.
 */
export class ForeignLoad {
  private m0 = 0;
  private own0 = new Map<number, number>();
  private t0 = 0;

  start(): void {
    try {
      this.m0 = machineTicks();
      this.own0 = new Map(ownPids().map((p) => [p, procTicks(p)]));
      this.t0 = performance.now();
    } catch {
      this.t0 = -1;
    }
  }

  /** % of one core used by others since start(). */
  stop(): number {
    if (this.t0 < 0) return 0;
    try {
      const m1 = machineTicks();
      const pids = new Set([...this.own0.keys(), ...ownPids()]);
      let own = 0;
      // a child gone since start() reads 0: its ticks moved into our cutime/cstime, minus
      // what it had at start() here
      for (const p of pids) own += procTicks(p) - (this.own0.get(p) ?? 0);
      const ticksPerMs = 100 / 1000; // CLK_TCK is 100 on Linux
      const elapsed = (performance.now() - this.t0) * ticksPerMs;
      return elapsed > 0 ? Math.max(0, (m1 - this.m0 - own) / elapsed * 100) : 0;
    } catch {
      return 0;
    }
  }
}

/** The notes' remark about other load ('' when under 5 % of a core). */
export function foreignNote(pct: number): string {
  return pct >= 5 ? `; CONTENDED: other processes used ${pct.toFixed(0)} % of a core meanwhile` : '';
}
