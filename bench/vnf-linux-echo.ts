// The Linux row beside udp-echo: a UDP echo server on sockets (bench/ref/udp-echo.c: one thread,
// recvmmsg/sendmmsg) on 127.0.0.1, flooded by the same program's client over loopback (64
// datagrams per sendmmsg, never waiting; answers read without waiting and counted) — the socket
// version of the VALE row's generator. 22-byte payloads: 64-byte frames on a wire. Compiled
// with the system's cc -O2 like bench/ref/ref.c; without a compiler the row is skipped with a note.
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DEFAULT_WARMUP_MS, type CaseResult, type RunOptions } from './cases.js';
import { PeerMissing } from './linux-peers.js';
import { buildRef } from './ref.js';

const SOURCE = fileURLToPath(new URL('../../bench/ref/udp-echo.c', import.meta.url));

export async function echoLinuxLoopback(durationMs: number, opts?: RunOptions): Promise<CaseResult> {
  const { bin, dir, note } = buildRef(SOURCE);
  if (!bin) throw new PeerMissing(note ?? 'bench/ref/udp-echo.c not built');
  const server = spawn(bin, ['server'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let sout = '', serr = '';
  server.stdout.setEncoding('utf8').on('data', (d: string) => { sout += d; });
  server.stderr.setEncoding('utf8').on('data', (d: string) => { serr += d; });
  const exited = new Promise<number>((r) => server.once('close', (code) => r(code ?? -1)));
  try {
    const t0 = performance.now();
    while (!/port (\d+)\n/.test(sout)) {
      if (server.exitCode !== null || performance.now() - t0 > 5000) throw new Error(`udp-echo server did not start: ${serr.trim()}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    const portNo = Number(/port (\d+)/.exec(sout)![1]);
    const warm = opts?.warmupMs ?? DEFAULT_WARMUP_MS;
    const client = await new Promise<{ packets: number; seconds: number; sent: number; cpuSeconds: number }>((resolve, reject) => {
      const c = spawn(bin, ['client', String(portNo), '22', String(warm), String(durationMs)], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '', err = '';
      c.stdout.on('data', (d) => { out += d; });
      c.stderr.on('data', (d) => { err += d; });
      c.once('close', (code) => {
        if (code !== 0) return reject(new Error(`udp-echo client: exit ${code}: ${err.trim()}`));
        try { resolve(JSON.parse(out.trim())); } catch { reject(new Error(`udp-echo client printed ${out.trim()}`)); }
      });
    });
    server.kill('SIGTERM');
    await exited;
    const s = /\{"received":(\d+),"echoed":(\d+)\}/.exec(sout);
    return {
      packets: client.packets, bytes: client.packets * 64, seconds: client.seconds,
      notes: `C echo server on a UDP socket (recvmmsg/sendmmsg, one thread) over loopback, its C client offering ${(client.sent / client.seconds / 1e6).toFixed(2)} Mpps; the server's totals: ${s ? `${s[1]} received, ${s[2]} echoed` : 'none'}`,
      extra: { offeredMpps: client.sent / client.seconds / 1e6, clientCpuSeconds: client.cpuSeconds },
    };
  } finally {
    if (server.exitCode === null) server.kill('SIGKILL');
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}
