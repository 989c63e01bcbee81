// The --vnf rows on VALE switches, each VNF in its own process as a user runs it, the client a
// worker thread of the bench (vnf-gen-worker.ts: fills a tx ring, counts what comes back):
//
//   echoVale()      `nmts vnf udp-echo` on SW:echo; the client sends 64-byte UDP frames
//                   (22-byte payloads, 64 flows) from SW:gen and counts the answers there.
//                   With `layout` the echo runs `--layout n-1 --workers 1`: while the VNF refuses
//                   those options (exit 2) the row is skipped with its message.
//   firewallVale()  `nmts vnf firewall` between SWA:fw and SWB:fw with 100 rules (99 TCP denies,
//                   then `allow udp`) and its connection table; 60-byte frames over 1000 flows from
//                   SWA:gen, counted on SWB:rx (two switches: the firewall copies).
//
// The VNFs are stopped with SIGTERM after the window and print their --json summary, which the
// notes quote (what the VNF itself received, echoed, passed, dropped).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_WARMUP_MS, type CaseResult, type RunOptions } from './cases.js';
import { runPhased } from './harness.js';
import { PeerMissing } from './linux-peers.js';
import { ForeignLoad, foreignNote, NMTS, start, type Child } from './tool-kit.js';
import type { VnfGenParams } from './vnf-gen-worker.js';

const GEN = new URL('./vnf-gen-worker.js', import.meta.url);
let run = 0;

/** Wait for a VNF's ready line on stderr; a VNF refusing its options (exit 2) becomes a skip. */
async function ready(vnf: Child, text: string, what: string, refusedSkips: boolean): Promise<void> {
  const early = vnf.exited.then((r) => r);
  const got = await Promise.race([vnf.says(text, 'err').then(() => null), early]);
  if (got === null) return;
  const line = got.err.trim().split('\n').filter((l) => l && !/^Try /.test(l)).pop() ?? '';
  if (refusedSkips && got.code === 2) throw new PeerMissing(`${what} refused: ${line} (distribution to workers not in this build)`);
  throw new Error(`${what} exited (${got.code}) before it was ready: ${line}`);
}

/** SIGTERM, then the --json summary printed at exit (null if none). */
async function summary(vnf: Child): Promise<Record<string, unknown> | null> {
  vnf.kill('SIGTERM');
  const t = setTimeout(() => vnf.kill('SIGKILL'), 3000);
  const r = await vnf.exited;
  clearTimeout(t);
  try {
    return JSON.parse(r.out.trim().split('\n').pop() ?? '') as Record<string, unknown>;
  } catch {
    return null;
  }
}

const M = (n: number, s: number): string => `${(n / s / 1e6).toFixed(2)} Mpps`;

export async function echoVale(durationMs: number, opts: RunOptions | undefined, layout: boolean): Promise<CaseResult> {
  const sw = `valevnf${process.pid}x${run++}`;
  const echoMac = '02:00:00:00:00:e1';
  const extra = layout ? ['--layout', 'n-1', '--workers', '1'] : [];
  const argv = ['vnf', 'udp-echo', '-i', `${sw}:echo`, '--ip', '10.0.0.1/24', '--mac', echoMac, '--udp-port', '7', '--json', ...extra];
  const vnf = start(process.execPath, [NMTS, ...argv]);
  try {
    await ready(vnf, ' (MAC ', `nmts vnf udp-echo ${extra.join(' ')}`.trim(), layout);
    const params: VnfGenParams = {
      tx: `${sw}:gen`, frameLen: 64, srcMac: '02:00:00:00:00:01', dstMac: echoMac,
      src: '10.0.0.2:1000-10.0.0.2:1063', dst: '10.0.0.1:7',
    };
    const load = new ForeignLoad();
    load.start();
    const r = await runPhased({
      workers: [{ role: 'client', url: GEN, params }], durationMs, warmupMs: opts?.warmupMs,
      limitMs: durationMs + (opts?.warmupMs ?? DEFAULT_WARMUP_MS) + 1500,
    });
    const other = load.stop();
    const s = await summary(vnf) as { received?: number; echoed?: number; stats?: { dropped?: number }; distribution?: { received?: number; pipeFull?: number } } | null;
    const answered = r.counters.rx, sent = r.counters.tx;
    return {
      packets: answered, bytes: answered * 64, seconds: r.seconds, gcCount: r.gcCount,
      notes: `udp-echo${layout ? ' --layout n-1 --workers 1' : ' (one thread reads the port)'} on VALE; the client offered ${M(sent, r.seconds)} (64 flows); the echo's totals: ${s ? `${s.received} received, ${s.echoed} echoed, ${s.stats?.dropped ?? '?'} host drops${s.distribution ? `; the I/O thread took ${s.distribution.received}, ${s.distribution.pipeFull} dropped at the full pipe` : ''}` : 'no summary'}${foreignNote(other)}`,
      extra: { offeredMpps: sent / r.seconds / 1e6, echoReceived: s?.received ?? null, echoed: s?.echoed ?? null, otherCpuPct: other },
    };
  } finally {
    vnf.kill('SIGKILL');
  }
}

/** The 100 rules of the firewall rows: 99 TCP ports denied, then UDP allowed (the traffic). */
export function firewallRules(): { ours: string; deniedTcpPorts: number[] } {
  const ports = Array.from({ length: 99 }, (_, i) => 1000 + i);
  return { ours: `${ports.map((p) => `deny tcp dst port ${p}`).join('\n')}\nallow udp\n`, deniedTcpPorts: ports };
}

export async function firewallVale(durationMs: number, opts?: RunOptions): Promise<CaseResult> {
  const n = run++;
  const a = `valevnfa${process.pid}x${n}`, b = `valevnfb${process.pid}x${n}`;
  const dir = mkdtempSync(join(tmpdir(), 'nmts-vnfb-'));
  const rules = join(dir, 'rules');
  writeFileSync(rules, firewallRules().ours);
  const vnf = start(process.execPath, [NMTS, 'vnf', 'firewall', '-i', `${a}:fw`, '-i', `${b}:fw`, '--rules', rules, '--json']);
  try {
    await ready(vnf, ', zerocopy ', 'nmts vnf firewall', false);
    const params: VnfGenParams = {
      tx: `${a}:gen`, rx: `${b}:rx`, frameLen: 60, srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:02',
      src: '10.0.0.2:1000-10.0.0.2:1999', dst: '10.1.0.1:9',
    };
    const load = new ForeignLoad();
    load.start();
    const r = await runPhased({
      workers: [{ role: 'client', url: GEN, params }], durationMs, warmupMs: opts?.warmupMs,
      limitMs: durationMs + (opts?.warmupMs ?? DEFAULT_WARMUP_MS) + 1500,
    });
    const other = load.stop();
    const s = await summary(vnf) as { aToB?: number; firewall?: { dropped?: number; conntrack?: { entries?: number }; established?: number } } | null;
    const passed = r.counters.rx, sent = r.counters.tx;
    return {
      packets: passed, bytes: passed * 60, seconds: r.seconds, gcCount: r.gcCount,
      notes: `firewall (one thread, 100 rules, connection table) VALE -> VALE, 1000 flows; offered ${M(sent, r.seconds)}; the firewall's totals: ${s ? `${s.aToB} passed a->b (${s.firewall?.established} through the table), ${s.firewall?.dropped} dropped, ${s.firewall?.conntrack?.entries} connections` : 'no summary'}${foreignNote(other)}`,
      extra: { offeredMpps: sent / r.seconds / 1e6, fwPassed: s?.aToB ?? null, fwDropped: s?.firewall?.dropped ?? null, otherCpuPct: other },
    };
  } finally {
    vnf.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}
