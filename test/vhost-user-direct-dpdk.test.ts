// netmap:vm1 opened directly by the tools, DPDK's testpmd (virtio_user, no VM) as the front end:
// testpmd txonly -> pkt-gen -f rx -i netmap:vm1, every frame testpmd counts as sent received
// (the port has back-pressure: nothing is dropped between them); pkt-gen -f tx -n N -i netmap:vm1
// -> testpmd rxonly --no-flush-rx, exactly N received (pkt-gen starts first: its frames wait in the
// ring until testpmd's queue runs); capture -c on netmap:vm1 writes testpmd's frames to a pcap file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { daemonRequest, runDaemon, type DaemonHandle } from '../src/apps/daemon/daemon.js';
import { needs } from './fixtures/requires.js';
import { accumulated, lastTx, testpmd } from './fixtures/testpmd.js';

const skip = needs(['root', 'dpdk-testpmd'], 'DPDK testpmd (its runtime directory /var/run/dpdk)');
const root = resolve(import.meta.dirname, '../..');
const VM = `vx${process.pid}`;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(what: string, f: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await sleep(50);
  }
}

interface Tool { child: ChildProcess; out: () => string; exited: Promise<number | null> }
function tool(args: string[]): Tool {
  const child = spawn(process.execPath, ['bin/nmts.js', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout!.on('data', (b: Buffer) => { text += b.toString(); });
  child.stderr!.on('data', (b: Buffer) => { text += b.toString(); });
  return { child, out: () => text, exited: new Promise((r) => child.once('exit', (code) => r(code))) };
}

function lastJson(text: string): { packets: number; dropped: number } {
  const line = text.trim().split('\n').filter((l) => l.startsWith('{')).pop();
  assert.ok(line, `no JSON summary in:\n${text.slice(-2000)}`);
  return JSON.parse(line) as { packets: number; dropped: number };
}

/** A daemon with VM port VM on a socket in a fresh directory; the test gets them and cleans up. */
async function withPort(body: (vsock: string, logs: string[], dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'nmts-vhdd-'));
  const sock = join(dir, 'd.sock'), vsock = join(dir, 'vm.sock');
  const logs: string[] = [];
  let d: DaemonHandle | null = null;
  try {
    d = await runDaemon({ socketPath: sock, log: (l) => logs.push(l) });
    const r = await daemonRequest(sock, { cmd: 'vhost-create', port: VM, path: vsock }, 30_000);
    assert.equal(r.ok, true, String(r.error));
    await body(vsock, logs, dir);
  } finally {
    await d?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const opened = (logs: string[], n = 1): boolean => logs.filter((l) => l.includes(`opened directly as netmap:${VM}`)).length >= n;

test('DPDK virtio_user txonly -> pkt-gen -f rx -i netmap:vm1: every frame received', { skip, timeout: 120_000 }, async () => {
  await withPort(async (vsock, logs) => {
    const rx = tool(['pkt-gen', '-i', `netmap:${VM}`, '-f', 'rx', '-w', '0', '--json']);
    try {
      await until('pkt-gen serves the socket', () => opened(logs), 20_000).catch((e: Error) => { throw new Error(`${e.message}\n${rx.out()}`); });
      const tp = testpmd(`nmtsdx${process.pid}`, vsock, 'txonly');
      await until('testpmd sending', () => lastTx(tp.out()) > 20_000).catch((e: Error) => { tp.child.kill('SIGKILL'); throw new Error(`${e.message}\n${tp.out().slice(-2000)}`); });
      tp.child.kill('SIGINT');
      await tp.exited;
      const sent = accumulated(tp.out()).tx;
      await sleep(1000);
      rx.child.kill('SIGINT');
      await rx.exited;
      const r = lastJson(rx.out());
      assert.equal(r.dropped, 0);
      assert.equal(r.packets, sent, `pkt-gen received ${r.packets}, testpmd sent ${sent}`);
    } finally {
      rx.child.kill('SIGKILL');
    }
  });
});

test('pkt-gen -f tx -n N -i netmap:vm1 -> DPDK virtio_user rxonly: exactly N received', { skip, timeout: 120_000 }, async () => {
  await withPort(async (vsock, logs) => {
    const N = 50_000;
    const tx = tool(['pkt-gen', '-i', `netmap:${VM}`, '-f', 'tx', '-n', String(N), '-w', '0', '--json']);
    const tp = { cur: null as ReturnType<typeof testpmd> | null };
    try {
      await until('pkt-gen serves the socket', () => opened(logs), 20_000).catch((e: Error) => { throw new Error(`${e.message}\n${tx.out()}`); });
      // frames wait in the ring until testpmd's queue runs, before its forwarding starts: not flushed
      tp.cur = testpmd(`nmtsdr${process.pid}`, vsock, 'rxonly', ['--no-flush-rx']);
      const code = await tx.exited;
      assert.equal(code, 0, tx.out());
      const s = lastJson(tx.out());
      assert.equal(s.packets, N);
      assert.equal(s.dropped, 0);
      await sleep(1200); // testpmd's forwarding core has taken them
      tp.cur.child.kill('SIGINT');
      await tp.cur.exited;
      assert.equal(accumulated(tp.cur.out()).rx, N);
    } finally {
      tx.child.kill('SIGKILL');
      tp.cur?.child.kill('SIGKILL');
    }
  });
});

test('capture -c 500 -w FILE -i netmap:vm1 while DPDK txonly sends: 500 frames of 64 bytes in the file', { skip, timeout: 120_000 }, async () => {
  await withPort(async (vsock, logs, dir) => {
    const file = join(dir, 'c.pcap');
    const cap = tool(['capture', '-i', `netmap:${VM}`, '-c', '500', '-w', file]);
    const tp = { cur: null as ReturnType<typeof testpmd> | null };
    try {
      await until('capture serves the socket', () => opened(logs), 20_000).catch((e: Error) => { throw new Error(`${e.message}\n${cap.out()}`); });
      tp.cur = testpmd(`nmtsdc${process.pid}`, vsock, 'txonly');
      const code = await cap.exited;
      assert.equal(code, 0, cap.out());
      const b = readFileSync(file);
      assert.equal(b.readUInt32LE(0), 0xa1b2c3d4, 'a pcap file');
      let n = 0;
      for (let o = 24; o < b.length; n++) {
        const incl = b.readUInt32LE(o + 8), orig = b.readUInt32LE(o + 12);
        assert.equal(incl, 64);
        assert.equal(orig, 64);
        o += 16 + incl;
      }
      assert.equal(n, 500);
    } finally {
      cap.child.kill('SIGKILL');
      tp.cur?.child.kill('SIGINT');
      await tp.cur?.exited;
    }
  });
});
