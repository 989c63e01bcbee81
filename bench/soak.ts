// `npm run soak -- --minutes N [--pps P]`: a long run of everything at once on one VALE switch,
// each part in a process of its own (bench/soak-role.ts): two senders, each to its receiver
// (two pairs of ports), a monitor on the first receiver, and a churn process that opens a port
// and is SIGKILLed every second (its port reclaimed here, as the daemon would). At the end,
// for every pair, sent = received + the sender port's txDrops (reported drops),
// and the survivors' RSS, fds and memory mappings did not grow between the first sample (after
// a warm-up) and the last. Exit 0 when all hold, 1 otherwise, with the figures.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { reclaimDeadPorts } from '../src/apps/daemon/daemon.js';

const ROLE = fileURLToPath(new URL('./soak-role.js', import.meta.url));

interface Child { name: string; proc: ChildProcess; lines: Record<string, unknown>[]; waiters: (() => void)[] }

function start(args: string[], name: string): Child {
  const proc = spawn(process.execPath, [ROLE, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  const c: Child = { name, proc, lines: [], waiters: [] };
  createInterface({ input: proc.stdout! }).on('line', (l) => {
    try { c.lines.push(JSON.parse(l) as Record<string, unknown>); } catch { /* not ours */ }
    for (const w of c.waiters.splice(0)) w();
  });
  proc.once('exit', () => { for (const w of c.waiters.splice(0)) w(); });
  return c;
}

/** The next JSON line of c (or an error when it exits or ms pass). */
async function line(c: Child, ms: number): Promise<Record<string, unknown>> {
  const end = Date.now() + ms;
  while (c.lines.length === 0) {
    if (c.proc.exitCode !== null || c.proc.signalCode !== null) throw new Error(`${c.name} exited (${c.proc.exitCode ?? c.proc.signalCode}) without a result`);
    if (Date.now() > end) throw new Error(`${c.name}: no answer within ${ms} ms`);
    await new Promise<void>((r) => { c.waiters.push(r); setTimeout(r, 100); });
  }
  return c.lines.shift()!;
}

interface Sample { rssKb: number; fds: number; maps: number }
function sample(pid: number): Sample {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return { rssKb, fds: readdirSync(`/proc/${pid}/fd`).length, maps: readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n').length - 1 };
}

function args(argv: string[]): { minutes: number; pps: number } {
  let minutes = 10, pps = 20_000;
  for (let i = 0; i < argv.length; i++) {
    const [k, v0] = argv[i]!.split('=');
    const v = v0 ?? argv[++i];
    if (k === '--minutes') minutes = Number(v);
    else if (k === '--pps') pps = Number(v);
    else throw new Error(`usage: soak [--minutes N] [--pps P] (unknown ${argv[i]})`);
  }
  if (!(minutes > 0) || !(pps > 0)) throw new Error('--minutes and --pps must be > 0');
  return { minutes, pps };
}

export async function soak(minutes: number, pps: number, out: (l: string) => void): Promise<boolean> {
  const sw = `valesoak${process.pid}`;
  const all: Child[] = [];
  const rx = [1, 2].map((id) => start(['rx', `${sw}:rx${id}`, String(id)], `rx${id}`));
  all.push(...rx);
  for (const c of rx) await line(c, 30_000);
  const mon = start(['mon', `${sw}:rx1`], 'monitor');
  all.push(mon);
  await line(mon, 30_000);
  const tx = [1, 2].map((id) => start(['tx', `${sw}:tx${id}`, String(id), String(pps)], `tx${id}`));
  all.push(...tx);
  for (const c of tx) await line(c, 30_000);
  for (const c of tx) c.proc.stdin!.write('go\n');
  out(`soak: ${minutes} min on ${sw}: 2 pairs at ${pps} frames/s each, a monitor, a port opened and SIGKILLed every second`);

  const survivors = [...rx, mon, ...tx];
  const endAt = Date.now() + minutes * 60_000;
  const firstSampleAt = Date.now() + Math.min(60_000, minutes * 60_000 * 0.25);
  let first: Sample[] | null = null;
  let churned = 0, reclaimed = 0, churnFailed = 0;
  let victim: Child | null = null;
  let nextReport = Date.now() + 30_000;
  while (Date.now() < endAt) {
    if (victim) {
      if (victim.proc.exitCode !== null && victim.proc.exitCode !== 0) churnFailed++;
      victim.proc.kill('SIGKILL');
      await new Promise<void>((r) => { if (victim!.proc.exitCode !== null || victim!.proc.signalCode !== null) r(); else victim!.proc.once('exit', () => r()); });
    }
    reclaimed += reclaimDeadPorts().reclaimed;
    victim = start(['churn', `${sw}:churn${churned % 3}`], `churn${churned}`);
    churned++;
    await new Promise((r) => setTimeout(r, 1000));
    for (const c of survivors) if (c.proc.exitCode !== null || c.proc.signalCode !== null) throw new Error(`${c.name} died (${c.proc.exitCode ?? c.proc.signalCode})`);
    if (!first && Date.now() >= firstSampleAt) first = survivors.map((c) => sample(c.proc.pid!));
    if (Date.now() >= nextReport) {
      nextReport += 30_000;
      out(`soak: ${Math.max(0, Math.round((endAt - Date.now()) / 1000))} s left, ${churned} ports churned, ${reclaimed} reclaimed`);
    }
  }
  if (victim) victim.proc.kill('SIGKILL');
  const last = survivors.map((c) => sample(c.proc.pid!));
  for (const c of tx) c.proc.stdin!.write('stop\n');
  const txr = await Promise.all(tx.map((c) => line(c, 30_000)));
  for (const c of [...rx, mon]) c.proc.stdin!.write('stop\n');
  const rxr = await Promise.all(rx.map((c) => line(c, 30_000)));
  const monr = await line(mon, 30_000);
  await new Promise((r) => setTimeout(r, 200));
  reclaimed += reclaimDeadPorts().reclaimed;

  let ok = true;
  for (let i = 0; i < 2; i++) {
    const t = txr[i]!, r = rxr[i]!;
    const sent = t.sent as number, received = r.received as number, txDrops = t.txDrops as number, rxDrops = r.rxDrops as number;
    // a frame the switch cannot deliver is counted once per pair by the sender's txDrops (the
    // receiving port's rxDrops counts the same frame again, from its side)
    const holds = sent === received + txDrops;
    if (!holds || sent === 0) ok = false;
    out(`pair ${i + 1}: sent ${sent} = received ${received} + sender txDrops ${txDrops}: ${holds ? 'holds' : `DOES NOT HOLD (${sent - received - txDrops} unaccounted)`}${sent === 0 ? ' (nothing sent!)' : ''}; receiver rxDrops ${rxDrops}, other frames seen ${r.other}`);
  }
  const r1 = rxr[0]!;
  out(`monitor of rx1: ${monr.seen} frames seen + ${monr.rxDrops} dropped = ${(monr.seen as number) + (monr.rxDrops as number)}, of the ${(r1.received as number) + (r1.other as number)} rx1 received`);
  out(`churn: ${churned} ports opened and SIGKILLed, ${churnFailed} failed to start, ${reclaimed} opener(s) reclaimed`);
  const f = first ?? last;
  survivors.forEach((c, i) => {
    const a = f[i]!, b = last[i]!;
    // flat: fds and mappings the same (a few mappings of the JIT / GC may come and go), RSS within 32 MiB
    const flat = b.fds <= a.fds && b.maps <= a.maps + 8 && b.rssKb <= a.rssKb + 32 * 1024;
    if (!flat) ok = false;
    out(`${c.name}: rss ${a.rssKb >> 10} -> ${b.rssKb >> 10} MiB, fds ${a.fds} -> ${b.fds}, mappings ${a.maps} -> ${b.maps}: ${flat ? 'flat' : 'GREW'}`);
  });
  for (const c of all) if (c.proc.exitCode === null) c.proc.kill('SIGKILL');
  out(`soak: ${ok ? 'passed' : 'FAILED'}`);
  return ok;
}

if (process.argv[1]?.endsWith('soak.js')) {
  let o;
  try { o = args(process.argv.slice(2)); } catch (e) { process.stderr.write(`${(e as Error).message}\n`); process.exit(2); }
  soak(o.minutes, o.pps, (l) => process.stdout.write(l + '\n')).then((ok) => process.exit(ok ? 0 : 1), (e: unknown) => {
    process.stderr.write(`soak: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
}
