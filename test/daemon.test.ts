// The nmts daemon: persistent ports held on behalf of clients that exit, the JSON protocol
// and its errors (the daemon keeps serving), reclaim of killed processes' ports, a clean
// shutdown (no held port, shared file or socket left), one daemon per socket.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { listSwitches } from '../src/index.js';
import { regionPath } from '../src/core/shm.js';
import { DAEMON_COMMANDS, daemonRequest, defaultSocketPath, resolveGroup, runDaemon, type DaemonHandle, type DaemonOptions } from '../src/apps/daemon/daemon.js';

const indexUrl = pathToFileURL(fileURLToPath(new URL('../src/index.js', import.meta.url))).href;
const cliJs = fileURLToPath(new URL('./fixtures/daemon-cli.js', import.meta.url));
const clientJs = fileURLToPath(new URL('./fixtures/daemon-client.js', import.meta.url));
const LINE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z nmts-daemon\[\d+\]: \S/;

let seq = 0;
/** A socket path under the temp directory and a switch name no other test uses. */
function names(tag: string): { sock: string; sw: string } {
  seq++;
  const sock = join(tmpdir(), `nmts-dt-${process.pid}-${seq}.sock`);
  try { unlinkSync(sock); } catch { /* not there */ }
  return { sock, sw: `valedt${process.pid}${tag}` };
}

async function start(sock: string, extra: Partial<DaemonOptions> = {}): Promise<{ d: DaemonHandle; logs: string[] }> {
  const logs: string[] = [];
  const d = await runDaemon({ socketPath: sock, log: (l) => logs.push(l), ...extra });
  return { d, logs };
}

type Reply = Record<string, unknown> & { id: unknown; ok: boolean; error?: string; code?: string };

/** One connection, replies read line by line. */
class Client {
  private buf = '';
  private lines: string[] = [];
  private waiter: (() => void) | null = null;
  private constructor(readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      this.buf += d;
      let nl;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        this.lines.push(this.buf.slice(0, nl));
        this.buf = this.buf.slice(nl + 1);
      }
      this.waiter?.();
    });
    socket.on('close', () => this.waiter?.());
  }
  static connect(path: string): Promise<Client> {
    return new Promise((resolve, reject) => {
      const s = createConnection(path);
      s.once('connect', () => resolve(new Client(s)));
      s.once('error', reject);
    });
  }
  write(text: string): void { this.socket.write(text); }
  async next(timeoutMs = 2000): Promise<Reply> {
    const until = Date.now() + timeoutMs;
    while (this.lines.length === 0) {
      if (this.socket.destroyed || Date.now() > until) throw new Error(`no reply (${this.socket.destroyed ? 'connection closed' : 'timeout'})`);
      await new Promise<void>((r) => { this.waiter = r; setTimeout(r, 50); });
      this.waiter = null;
    }
    return JSON.parse(this.lines.shift()!) as Reply;
  }
  /** Replies that arrive within ms (none expected, usually). */
  async extra(ms: number): Promise<string[]> {
    await new Promise((r) => setTimeout(r, ms));
    return this.lines.splice(0);
  }
  call(req: Record<string, unknown>): Promise<Reply> {
    this.write(JSON.stringify(req) + '\n');
    return this.next();
  }
  close(): void { this.socket.destroy(); }
}

function portOf(sw: string, port: string): ReturnType<typeof listSwitches>[number]['ports'][number] | undefined {
  return listSwitches().find((s) => s.name === sw)?.ports.find((p) => p.name === port);
}

function run(file: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; pid: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [file, ...args], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
    let stdout = '', stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, pid: child.pid! }));
  });
}

/** Resolve once `child` printed a line matching re on the stream. */
function waitOutput(child: ChildProcess, stream: 'stdout' | 'stderr', re: RegExp, timeoutMs = 4000): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`no ${re} on ${stream} within ${timeoutMs} ms:\n${text}`)), timeoutMs);
    child[stream]!.setEncoding('utf8').on('data', (d: string) => {
      text += d;
      if (re.test(text)) { clearTimeout(timer); resolve(text); }
    });
    child.once('exit', (code) => { clearTimeout(timer); if (!re.test(text)) reject(new Error(`exited (${code}) before ${re}:\n${text}`)); });
  });
}

test('ping answers with version, pid and uptime; the start is logged in the documented format', { timeout: 5000 }, async () => {
  const { sock } = names('ping');
  const { d, logs } = await start(sock);
  try {
    const r = await daemonRequest(sock, { id: 'a', cmd: 'ping' });
    assert.equal(r.ok, true);
    assert.equal(r.id, 'a');
    assert.equal(r.pid, process.pid);
    assert.match(String(r.version), /^\d+\.\d+\.\d+/);
    assert.equal(typeof r.uptimeSec, 'number');
    assert.equal(d.socketPath, sock);
    assert.ok(lstatSync(sock).isSocket());
    assert.equal(lstatSync(sock).mode & 0o777, 0o660, 'default socket mode 0660');
    assert.equal(logs.length, 1);
    assert.match(logs[0], LINE);
    assert.ok(logs[0].includes(sock) && logs[0].includes(`pid ${process.pid}`), logs[0]);
    // requests without an id get id null
    const c = await Client.connect(sock);
    assert.deepEqual((await c.call({ cmd: 'ping' })).id, null);
    assert.deepEqual((await c.call({ id: { n: [1] }, cmd: 'ping' })).id, { n: [1] });
    c.close();
  } finally {
    await d.close();
  }
});

test('socket permissions: mode and group are applied; group names resolve', { timeout: 5000 }, async () => {
  const { sock } = names('perm');
  const gid = process.getgid!();
  const { d } = await start(sock, { mode: 0o640, group: gid });
  try {
    const st = lstatSync(sock);
    assert.equal(st.mode & 0o777, 0o640);
    assert.equal(st.gid, gid);
  } finally {
    await d.close();
  }
  assert.equal(resolveGroup('0'), 0);
  if (existsSync('/etc/group') && /^root:/m.test(String(await import('node:fs').then((f) => f.readFileSync('/etc/group', 'utf8'))))) assert.equal(resolveGroup('root'), 0);
  assert.throws(() => resolveGroup('no-such-group-nmts'), /unknown group/);
  assert.equal(defaultSocketPath({ NMTS_SOCKET: '/x/y.sock' }), '/x/y.sock');
});

test('hold: a port requested by a client that exits outlives it; the request is logged with the peer', { timeout: 5000 }, async () => {
  const { sock, sw } = names('hold');
  const { d, logs } = await start(sock);
  const port = `${sw}:p1`;
  try {
    const child = await run(clientJs, [sock, JSON.stringify({ id: 7, cmd: 'hold', port, conf: { rings: 2, slots: 256 } })]);
    assert.equal(child.code, 0, child.stderr);
    const r = JSON.parse(child.stdout) as Reply;
    assert.deepEqual(r, { id: 7, ok: true, port, index: 0, already: false });
    // the requester is gone; the port is still there, with the configuration asked for
    const p = portOf(sw, port);
    assert.ok(p, `${port} is listed after its requester exited`);
    assert.equal(p.txRings, 2);
    assert.equal(p.rxSlots, 256);
    assert.equal(p.openers, 1);
    assert.ok(existsSync(regionPath(sw)));
    const list = await daemonRequest(sock, { id: 1, cmd: 'list' });
    const sws = list.switches as Array<{ name: string; ports: Array<{ name: string }> }>;
    assert.deepEqual(sws.find((s) => s.name === sw)?.ports.map((x) => x.name), [port]);
    const held = await daemonRequest(sock, { id: 2, cmd: 'held' });
    const hp = (held.ports as Array<{ port: string; index: number; switch: string; by: { pid: number; uid: number } }>);
    assert.equal(hp.length, 1);
    assert.equal(hp[0].port, port);
    assert.equal(hp[0].switch, sw);
    assert.equal(hp[0].by.pid, child.pid, 'SO_PEERCRED: the requester\'s pid');
    assert.equal(hp[0].by.uid, process.getuid!());
    const line = logs.find((l) => l.includes(`hold ${port}`));
    assert.ok(line, logs.join('\n'));
    assert.match(line, LINE);
    assert.ok(line.includes(`pid=${child.pid} uid=${process.getuid!()}`), line);
    // holding again is not an error: the same port, already held
    const again = await daemonRequest(sock, { id: 3, cmd: 'hold', port });
    assert.deepEqual(again, { id: 3, ok: true, port, index: 0, already: true });
    // a port held elsewhere joins the switch: index 1
    const r2 = await daemonRequest(sock, { id: 4, cmd: 'hold', port: `${sw}:p2` });
    assert.equal(r2.index, 1);
    assert.deepEqual(d.held().map((h) => h.port), [port, `${sw}:p2`]);
  } finally {
    await d.close();
  }
  assert.equal(portOf(sw, port), undefined);
});

test('release destroys the port, and the shared file goes once nothing else is open', { timeout: 5000 }, async () => {
  const { sock, sw } = names('rel');
  const { d, logs } = await start(sock);
  try {
    const c = await Client.connect(sock);
    assert.equal((await c.call({ id: 1, cmd: 'hold', port: `${sw}:a` })).ok, true);
    assert.equal((await c.call({ id: 2, cmd: 'hold', port: `${sw}:b` })).ok, true);
    assert.ok(existsSync(regionPath(sw)));
    const r = await c.call({ id: 3, cmd: 'release', port: `${sw}:a` });
    assert.deepEqual(r, { id: 3, ok: true, port: `${sw}:a` });
    assert.equal(portOf(sw, `${sw}:a`), undefined);
    assert.ok(portOf(sw, `${sw}:b`), 'the other port stays');
    assert.ok(existsSync(regionPath(sw)), 'the switch still has a port: its file stays');
    assert.equal((await c.call({ id: 4, cmd: 'release', port: `${sw}:b` })).ok, true);
    assert.equal(listSwitches().find((s) => s.name === sw), undefined, 'the switch went with its last port');
    assert.equal(existsSync(regionPath(sw)), false, `${regionPath(sw)} removed`);
    const again = await c.call({ id: 5, cmd: 'release', port: `${sw}:b` });
    assert.equal(again.ok, false);
    assert.equal(again.code, 'ENOENT');
    assert.match(again.error!, /not held/);
    assert.ok(logs.some((l) => l.includes(`release ${sw}:a`) && /pid=\d+ uid=\d+/.test(l)), logs.join('\n'));
    c.close();
  } finally {
    await d.close();
  }
});

test('malformed requests get an error reply and the same connection keeps working', { timeout: 5000 }, async () => {
  const { sock, sw } = names('bad');
  const { d, logs } = await start(sock, { maxRequestBytes: 1024 });
  try {
    const c = await Client.connect(sock);
    const bad = async (line: string, code: string, re: RegExp, id: unknown = null): Promise<void> => {
      c.write(line + '\n');
      const r = await c.next();
      assert.equal(r.ok, false, line);
      assert.equal(r.code, code, `${line}: ${r.error}`);
      assert.match(r.error!, re, line);
      assert.deepEqual(r.id, id);
      const p = await c.call({ id: 'p', cmd: 'ping' });
      assert.equal(p.ok, true, `ping after ${line}`);
    };
    await bad('{"id":1,"cmd":"ping"', 'EBADMSG', /bad JSON at column \d+/);
    await bad('{"id":1,,}', 'EBADMSG', /bad JSON at column 9 \(near /);
    await bad('not json at all', 'EBADMSG', /bad JSON at column 1/);
    await bad('[1,2]', 'EINVAL', /must be a JSON object.*array/);
    await bad('"ping"', 'EINVAL', /must be a JSON object.*string/);
    await bad('null', 'EINVAL', /must be a JSON object.*null/);
    await bad('42', 'EINVAL', /must be a JSON object.*number/);
    await bad('{"id":2,"cmd":"explode"}', 'ENOSYS', new RegExp(`unknown command "explode" \\(known commands: ${DAEMON_COMMANDS.join(', ')}\\)`), 2);
    await bad('{"id":3,"cmd":7}', 'ENOSYS', /unknown command 7/, 3);
    await bad('{"id":4}', 'EINVAL', /missing 'cmd'/, 4);
    await bad('{"id":5,"cmd":"hold"}', 'EINVAL', /missing argument 'port'/, 5);
    await bad('{"id":6,"cmd":"hold","port":""}', 'EINVAL', /non-empty string/, 6);
    await bad('{"id":7,"cmd":"hold","port":12}', 'EINVAL', /non-empty string/, 7);
    await bad(`{"id":8,"cmd":"hold","port":"${sw}:x","conf":{"rings":0}}`, 'EINVAL', /conf.rings must be a positive integer/, 8);
    await bad(`{"id":9,"cmd":"hold","port":"${sw}:x","conf":{"ring":2}}`, 'EINVAL', /unknown conf key 'ring'/, 9);
    await bad(`{"id":10,"cmd":"hold","port":"${sw}:x","conf":[]}`, 'EINVAL', /'conf' must be an object/, 10);
    await bad(`{"id":11,"cmd":"hold","prot":"${sw}:x"}`, 'EINVAL', /unknown argument 'prot' for hold/, 11);
    await bad('{"id":12,"cmd":"hold","port":"vale0:a b"}', 'EINVAL', /invalid port name/, 12);
    await bad(`{"id":13,"cmd":"hold","port":"${sw}:x","conf":{"slots":100000}}`, 'EINVAL', /slots/, 13);
    await bad('{"id":14,"cmd":"stats","port":"valenosuch:1"}', 'ENOENT', /no port valenosuch:1/, 14);
    await bad('{"id":15,"cmd":"ping","x":1}', 'EINVAL', /unknown argument 'x' for ping/, 15);
    // a line over maxRequestBytes in one piece: one error, the rest of the line discarded
    await bad(`{"id":1,"cmd":"ping","pad":"${'x'.repeat(2000)}"}`, 'EMSGSIZE', /longer than 1024 bytes/);
    // the same arriving in pieces, the newline much later: still exactly one error
    c.write('{"id":1,"cmd":"ping","pad":"' + 'y'.repeat(600));
    await new Promise((r) => setTimeout(r, 30));
    c.write('y'.repeat(600));
    const big = await c.next();
    assert.equal(big.code, 'EMSGSIZE');
    c.write('z'.repeat(5000));
    await new Promise((r) => setTimeout(r, 30));
    c.write('"}\n{"id":"after","cmd":"ping"}\n');
    const after = await c.next();
    assert.equal(after.id, 'after', 'the oversized line was discarded up to its newline, no second error');
    assert.equal(after.ok, true);
    // a valid request split across writes, several requests in one write, blank lines, CRLF
    c.write('{"id":"sp');
    await new Promise((r) => setTimeout(r, 30));
    c.write('lit","cmd":"ping"}\r\n\n  \n{"id":"x1","cmd":"held"}\n{"id":"x2","cmd":"ping"}\n');
    assert.equal((await c.next()).id, 'split');
    assert.equal((await c.next()).id, 'x1');
    assert.equal((await c.next()).id, 'x2');
    assert.deepEqual(await c.extra(50), [], 'blank lines get no reply');
    // invalid UTF-8 is just bad JSON
    c.socket.write(Buffer.from([0xff, 0xfe, 0x0a]));
    assert.equal((await c.next()).code, 'EBADMSG');
    assert.equal((await c.call({ id: 'last', cmd: 'ping' })).ok, true);
    c.close();
    assert.ok(logs.some((l) => /error EBADMSG/.test(l)) && logs.some((l) => /error EMSGSIZE/.test(l)), 'errors are logged');
    for (const l of logs) assert.match(l, LINE, 'one line per event');
    assert.equal(portOf(sw, `${sw}:x`), undefined, 'no failed hold left a port');
    // a request at end of input without its newline is still answered
    const raw = createConnection(sock);
    raw.end('{"id":"eof","cmd":"ping"}');
    const text = await new Promise<string>((r) => { let t = ''; raw.setEncoding('utf8').on('data', (x: string) => { t += x; }).on('end', () => r(t)); });
    assert.equal((JSON.parse(text) as Reply).id, 'eof');
  } finally {
    await d.close();
  }
});

test('stats and reclaim commands', { timeout: 5000 }, async () => {
  const { sock, sw } = names('st');
  const { d } = await start(sock);
  try {
    const c = await Client.connect(sock);
    const h = await c.call({ id: 1, cmd: 'hold', port: `${sw}:s` });
    assert.equal(h.ok, true);
    const s = await c.call({ id: 2, cmd: 'stats', port: `${sw}:s` });
    assert.equal(s.ok, true);
    assert.equal(s.switch, sw);
    assert.equal(s.index, 0);
    assert.equal(s.openers, 1);
    assert.deepEqual(Object.keys(s.stats as object).sort(), ['rxBytes', 'rxDrops', 'rxPackets', 'txBytes', 'txDrops', 'txPackets']);
    const r = await c.call({ id: 3, cmd: 'reclaim' });
    assert.equal(r.ok, true);
    assert.equal(typeof r.reclaimed, 'number');
    assert.ok(Array.isArray(r.ports) && Array.isArray(r.removed));
    assert.ok(!(r.ports as string[]).includes(`${sw}:s`), 'a held port is never reclaimed while the daemon lives');
    c.close();
  } finally {
    await d.close();
  }
});

test('close() (the SIGTERM path) releases every held port and leaves no shared file and no socket', { timeout: 5000 }, async () => {
  const { sock, sw } = names('close');
  const sw2 = `${sw}b`;
  const { d, logs } = await start(sock);
  const c = await Client.connect(sock);
  for (const port of [`${sw}:1`, `${sw}:2`, `${sw2}:1`]) assert.equal((await c.call({ id: port, cmd: 'hold', port })).ok, true);
  assert.ok(existsSync(regionPath(sw)) && existsSync(regionPath(sw2)));
  await d.close();
  await d.closed;
  assert.equal(existsSync(regionPath(sw)), false);
  assert.equal(existsSync(regionPath(sw2)), false);
  assert.equal(existsSync(sock), false, 'socket file removed');
  assert.equal(listSwitches().filter((s) => s.name === sw || s.name === sw2).length, 0);
  assert.deepEqual(d.held(), []);
  await assert.rejects(daemonRequest(sock, { cmd: 'ping' }), /ENOENT|ECONNREFUSED/);
  assert.ok(c.socket.destroyed || (await c.extra(100), c.socket.destroyed), 'open connections are dropped');
  assert.match(logs.at(-1)!, /stopped: released 3 port\(s\)/);
  await d.close(); // idempotent
});

test('a second daemon on the same socket refuses to start; a non-socket file is never replaced', { timeout: 5000 }, async () => {
  const { sock } = names('two');
  const { d } = await start(sock);
  try {
    await assert.rejects(start(sock), (e: Error & { code?: string }) => e.code === 'EADDRINUSE' && e.message.includes(`pid ${process.pid}`) && e.message.includes(sock));
    assert.equal((await daemonRequest(sock, { cmd: 'ping' })).ok, true, 'the first one still answers');
  } finally {
    await d.close();
  }
  const { sock: file } = names('file');
  writeFileSync(file, 'not a socket');
  try {
    await assert.rejects(start(file), /not a socket/);
    assert.equal(statSync(file).size, 12);
  } finally {
    unlinkSync(file);
  }
});

test('a stale socket file (its daemon was killed) is replaced', { timeout: 5000 }, async () => {
  const { sock } = names('stale');
  const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(sock)}, () => console.log('ready'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
  await waitOutput(child, 'stdout', /ready/);
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  assert.ok(lstatSync(sock).isSocket(), 'the killed listener left its socket file');
  const { d, logs } = await start(sock);
  try {
    assert.ok(logs.some((l) => l.includes(`removed stale socket ${sock}`)), logs.join('\n'));
    assert.equal((await daemonRequest(sock, { cmd: 'ping' })).pid, process.pid);
  } finally {
    await d.close();
  }
});

test('a process killed with SIGKILL: its port leaves the listing by the periodic reclaim', { timeout: 5000 }, async () => {
  // The daemon and the victim share a private shared-memory directory (NMTS_SHM_DIR), so
  // that no other process's listing can reclaim the port first: only the daemon's timer can.
  const { sock, sw } = names('kill');
  const dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'nmtsdt-'));
  const env = { ...process.env, NMTS_SHM_DIR: dir };
  const daemon = spawn(process.execPath, [cliJs, '--socket', sock], { stdio: ['ignore', 'ignore', 'pipe'], env });
  const victim = spawn(process.execPath, ['--input-type=module', '-e',
    `import { open } from ${JSON.stringify(indexUrl)}; open(${JSON.stringify(`${sw}:victim`)}); process.stdout.write('ready\\n'); setInterval(() => {}, 1 << 30);`],
  { stdio: ['ignore', 'pipe', 'inherit'], env });
  let log = '';
  daemon.stderr.setEncoding('utf8').on('data', (x: string) => { log += x; });
  const daemonExit = new Promise<number | null>((r) => daemon.once('exit', (code) => r(code)));
  try {
    await waitOutput(victim, 'stdout', /ready/);
    const t = Date.now();
    while (!/started: socket/.test(log) && Date.now() - t < 3000) await new Promise((r) => setTimeout(r, 20));
    const before = await daemonRequest(sock, { id: 1, cmd: 'list' });
    assert.ok((before.switches as Array<{ name: string }>).some((s) => s.name === sw), 'the victim\'s port is listed while it lives');
    assert.ok(existsSync(join(dir, `nmts-${sw}`)));
    victim.kill('SIGKILL');
    await new Promise((r) => victim.once('exit', r));
    const t0 = Date.now();
    // nobody lists meanwhile: only the daemon's own timer can notice
    let line: string | undefined;
    while (!(line = log.split('\n').find((l) => l.includes('(periodic)') && l.includes(`${sw}:victim`))) && Date.now() - t0 < 1500) {
      await new Promise((r) => setTimeout(r, 25));
    }
    assert.ok(line, `no periodic reclaim of ${sw}:victim within 1.5 s:\n${log}`);
    assert.match(line, LINE);
    assert.equal(existsSync(join(dir, `nmts-${sw}`)), false, 'the emptied shared file was removed');
    const after = await daemonRequest(sock, { id: 2, cmd: 'list' });
    assert.equal((after.switches as Array<{ name: string }>).some((s) => s.name === sw), false);
    daemon.kill('SIGTERM');
    assert.equal(await daemonExit, 0, log);
  } finally {
    victim.kill('SIGKILL');
    daemon.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

test('nmts daemon: --help exits 0, bad flags exit 2 with a message', { timeout: 5000 }, async () => {
  const help = await run(cliJs, ['--help']);
  assert.equal(help.code, 0);
  for (const f of ['--socket PATH', '--mode MODE', '--group NAME', '--foreground']) assert.ok(help.stdout.includes(f), f);
  await Promise.all(([[['--bogus'], /unknown option --bogus/], [['--mode', '999'], /invalid --mode '999'/], [['--socket'], /requires a path/],
    [['stray'], /unexpected argument 'stray'/], [['--group', 'no-such-group-nmts'], /invalid --group/], [['--foreground=1'], /takes no value/]] as Array<[string[], RegExp]>)
    .map(async ([args, re]) => {
      const r = await run(cliJs, args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, re);
      assert.match(r.stderr, /nmts daemon --help/);
      assert.equal(r.stdout, '');
    }));
});

test('nmts daemon in the foreground: SIGTERM releases its ports, removes the socket, exits 0', { timeout: 5000 }, async () => {
  const { sock, sw } = names('cli');
  const child = spawn(process.execPath, [cliJs, '--socket', sock, '--mode', '0600', '--foreground'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (x: string) => { stderr += x; });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  try {
    const t0 = Date.now();
    while (!/started: socket/.test(stderr) && Date.now() - t0 < 4000) await new Promise((r) => setTimeout(r, 20));
    assert.equal(lstatSync(sock).mode & 0o777, 0o600);
    const h = await daemonRequest(sock, { id: 1, cmd: 'hold', port: `${sw}:p` });
    assert.equal(h.ok, true, JSON.stringify(h));
    // this process asked and let go: the daemon process is the opener
    assert.equal(portOf(sw, `${sw}:p`)?.openers, 1);
    assert.equal((await daemonRequest(sock, { cmd: 'ping' })).pid, child.pid);
    child.kill('SIGTERM');
    assert.equal(await exited, 0, stderr);
  } finally {
    child.kill('SIGKILL');
  }
  assert.equal(existsSync(sock), false, 'socket removed');
  assert.equal(existsSync(regionPath(sw)), false, 'shared file removed');
  assert.equal(portOf(sw, `${sw}:p`), undefined);
  const lines = stderr.trim().split('\n');
  for (const l of lines) assert.match(l, LINE);
  assert.match(lines[0], /started: socket/);
  assert.ok(lines.some((l) => /SIGTERM received/.test(l)));
  assert.match(lines.at(-1)!, /stopped: released 1 port\(s\)/);
});
