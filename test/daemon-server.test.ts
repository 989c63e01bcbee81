// The daemon as a server facing clients it does not trust to behave: a client's input waits
// while its requests are answered (one that writes without reading stalls itself), idle
// connections are closed, a uid gets at most N connections (others still get in), and
// clients refuse a socket (or directory) another user could have planted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkDaemonSocket, daemonRequest, runDaemon, type DaemonOptions } from '../src/apps/daemon/daemon.js';
import { prepareSocketDir } from '../src/apps/daemon/socket.js';

const isRoot = process.geteuid?.() === 0;
const NOBODY = 65534;
let seq = 0;
function sockPath(): string {
  return join(tmpdir(), `nmts-ds-${process.pid}-${++seq}.sock`);
}
async function start(extra: Partial<DaemonOptions>): Promise<{ sock: string; logs: string[]; close: () => Promise<void> }> {
  const sock = sockPath(), logs: string[] = [];
  const d = await runDaemon({ socketPath: sock, log: (l) => logs.push(l), reclaimIntervalMs: 0, ...extra });
  return { sock, logs, close: () => d.close() };
}
function connect(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createConnection(path);
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}
/** Everything the server sends until it closes the connection (or ms pass). */
function readAll(s: Socket, ms: number): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    let text = '';
    s.setEncoding('utf8').on('data', (d: string) => { text += d; });
    const t = setTimeout(() => resolve({ text, closed: false }), ms);
    s.once('close', () => { clearTimeout(t); resolve({ text, closed: true }); });
  });
}

test('connections beyond the per-uid cap are refused with EUSERS (and logged) while another uid still gets in', { timeout: 20_000 }, async () => {
  const { sock, logs, close } = await start({ maxConnectionsPerUid: 3, mode: 0o666 });
  const idle: Socket[] = [];
  try {
    for (let i = 0; i < 3; i++) idle.push(await connect(sock));
    await new Promise((r) => setTimeout(r, 100)); // the daemon has counted them
    const extra = await connect(sock);
    const r = await readAll(extra, 3000);
    assert.equal(r.closed, true, 'the extra connection is closed');
    const reply = JSON.parse(r.text.trim()) as { ok: boolean; code: string; error: string };
    assert.equal(reply.ok, false);
    assert.equal(reply.code, 'EUSERS');
    assert.match(reply.error, /too many connections from uid \d+ \(at most 3\)/);
    assert.ok(logs.some((l) => /refused: 3 connection\(s\) of uid \d+ already open \(at most 3\)/.test(l)), logs.join('\n'));
    // once one idle connection goes, the same uid gets in again
    idle.pop()!.destroy();
    await new Promise((r) => setTimeout(r, 100));
    assert.equal((await daemonRequest(sock, { cmd: 'ping' })).ok, true);
    if (isRoot) {
      // a client of another uid is not counted against root's connections
      const code = `const s=require('net').createConnection(${JSON.stringify(sock)});s.on('connect',()=>s.write('{"id":7,"cmd":"ping"}\\n'));let b='';s.on('data',d=>{b+=d;if(b.includes('\\n')){process.stdout.write(b);s.end();}});s.on('error',e=>{console.log('ERR',e.code);});`;
      idle.push(await connect(sock)); // root is at its cap again
      const out = await new Promise<string>((resolve) => {
        const c = spawn(process.execPath, ['-e', code], { uid: NOBODY, gid: NOBODY, stdio: ['ignore', 'pipe', 'inherit'], cwd: '/' });
        let o = '';
        c.stdout.on('data', (d) => { o += d; });
        c.once('exit', () => resolve(o));
      });
      const rep = JSON.parse(out.trim()) as { id: number; ok: boolean };
      assert.equal(rep.ok, true, out);
      assert.equal(rep.id, 7);
    }
  } finally {
    for (const s of idle) s.destroy();
    await close();
  }
});

test('an idle connection is closed after idleTimeoutMs (logged); an active one is not', { timeout: 20_000 }, async () => {
  const { sock, logs, close } = await start({ idleTimeoutMs: 400 });
  try {
    const idle = await connect(sock);
    const busy = await connect(sock);
    const idleEnd = readAll(idle, 5000);
    let busyClosed = false;
    busy.once('close', () => { busyClosed = true; });
    busy.on('data', () => {});
    for (let i = 0; i < 8; i++) { // a request every 200 ms keeps it open
      busy.write('{"cmd":"ping"}\n');
      await new Promise((r) => setTimeout(r, 200));
    }
    const r = await idleEnd;
    assert.equal(r.closed, true);
    assert.equal(busyClosed, false, 'a connection with requests stays open');
    assert.ok(logs.some((l) => /closed after 0\.4 s without a request/.test(l)), logs.join('\n'));
    busy.destroy();
  } finally {
    await close();
  }
});

test('a client that writes requests without reading replies stalls itself: input paused, nothing lost, others served', { timeout: 30_000 }, async () => {
  const { sock, close } = await start({});
  try {
    const slow = await connect(sock);
    slow.pause(); // reads nothing
    const N = 150_000;
    const chunk = Buffer.from(Array.from({ length: 1000 }, (_, i) => `{"id":${i},"cmd":"ping"}\n`).join(''));
    for (let i = 0; i < N / 1000; i++) slow.write(chunk);
    await new Promise((r) => setTimeout(r, 1500));
    // the daemon stopped reading: most of the requests still wait in the client's buffer
    assert.ok(slow.writableLength > chunk.length * 20, `client still holds ${slow.writableLength} bytes`);
    // the daemon answers others meanwhile
    const t0 = performance.now();
    assert.equal((await daemonRequest(sock, { cmd: 'ping' })).ok, true);
    assert.ok(performance.now() - t0 < 2000);
    // now it reads: every request is answered, in order
    let got = 0, buf = '', bad = '';
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`only ${got} of ${N} replies`)), 25_000);
      slow.setEncoding('utf8');
      slow.on('data', (d: string) => {
        buf += d;
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const r = JSON.parse(buf.slice(0, nl)) as { id: number; ok: boolean };
          buf = buf.slice(nl + 1);
          if (r.id !== got % 1000 || !r.ok) bad ||= JSON.stringify(r);
          got++;
        }
        if (got === N) { clearTimeout(t); resolve(); }
      });
      slow.resume();
    });
    assert.equal(bad, '');
    slow.destroy();
  } finally {
    await close();
  }
});

test('clients refuse a socket another user could have planted, with a clear message', { timeout: 10_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nmts-squat-'));
  const servers: Server[] = [];
  const listen = (p: string): Promise<void> => new Promise((r) => { const s = createServer(); servers.push(s); s.listen(p, () => r()); });
  try {
    // a directory anyone may write (not sticky): the socket could be swapped
    chmodSync(dir, 0o777);
    const open = join(dir, 'nmts.sock');
    await listen(open);
    await assert.rejects(daemonRequest(open, { cmd: 'ping' }), (e: Error & { code?: string }) =>
      e.code === 'EPERM' && /refusing to talk to .*lets other users replace the socket.*pose as the nmts daemon/.test(e.message));
    assert.throws(() => prepareSocketDir(join(dir, 'd.sock')), /refusing to listen on .*lets other users replace/);
    chmodSync(dir, 0o700);
    assert.doesNotThrow(() => checkDaemonSocket(open));
    if (isRoot) {
      // squatted: /tmp/nmts-<uid>.sock style, made by another user in the sticky /tmp
      const squat = sockPath();
      await listen(squat);
      chownSync(squat, NOBODY, NOBODY);
      assert.equal(statSync(squat).uid, NOBODY);
      await assert.rejects(daemonRequest(squat, { cmd: 'ping' }), (e: Error & { code?: string }) =>
        e.code === 'EPERM' && new RegExp(`it belongs to uid ${NOBODY}, not to you \\(uid 0\\), root`).test(e.message));
      // a daemon of a user of its own is trusted when named
      assert.doesNotThrow(() => checkDaemonSocket(squat, { NMTS_DAEMON_UID: String(NOBODY) }));
    }
    await assert.rejects(daemonRequest(join(dir, 'none.sock'), { cmd: 'ping' }), (e: Error & { code?: string }) => e.code === 'ENOENT');
  } finally {
    for (const s of servers) s.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
