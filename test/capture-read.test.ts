// nmts capture -r and the text decoding against the real tcpdump: the same file through
// `tcpdump -n -r F FLAGS` and `nmts capture -n -r F FLAGS` prints the same lines, byte for
// byte (every field of every line is compared: timestamp, protocol, addresses and ports,
// flags, sequence numbers, options, lengths, -v headers and checksums, -e link headers and
// VLAN tags, -x/-X/-A dumps), on a synthetic capture (ARP, ICMP, a TCP handshake with
// options and data, UDP, 802.1Q and QinQ, IPv6 UDP/TCP/ICMPv6, fragments, IP options, a bad
// checksum) and on a real exchange between two network namespaces (ping, ping -6 with
// neighbour discovery and MLD, TCP, UDP, refused connections). Then -r from standard
// input, -r with a filter and -w (read back by tshark), -F, -Q, -Z and -D.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { open } from '../src/index.js';
import { parseCaptureArgs, CaptureUsageError, portForDirection, CaptureDirectionError, readCapture } from '../src/apps/capture/capture.js';
import { decodePcap, decodeFrames, carriageReturnFrames } from './fixtures/decode-frames.js';
import { sendFrames } from './fixtures/capture-frames.js';
import { needs } from './fixtures/requires.js';

const CLI = fileURLToPath(new URL('./fixtures/capture-cli.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'nmts-capread-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const env = { ...process.env, TZ: 'UTC' };
const SYN = join(dir, 'decode.pcap');
writeFileSync(SYN, decodePcap());

const skipTcpdump = needs(['tcpdump']);
const skipTshark = needs(['tshark']);
const skipReal = needs(['root', 'tcpdump', 'ip', 'ping', 'nc'], 'network namespaces and a veth pair for a real exchange');

interface Run { status: number | null; stdout: string; stderr: string }
function nmts(args: string[], input?: Buffer): Run {
  const r = spawnSync(process.execPath, [CLI, ...args], { env, input, encoding: 'utf8', timeout: 30_000, maxBuffer: 64 << 20 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
function tcpdump(args: string[]): string {
  return execFileSync('tcpdump', args, { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
}

/** The flag sets compared (each with -n: tcpdump resolves nothing, as nmts never does). */
const FLAGS: string[][] = [
  [], ['-v'], ['-vv'], ['-vvv'], ['-e'], ['-q'], ['-S'], ['-e', '-v'], ['-q', '-e'], ['-t'], ['-tt'], ['-ttt'], ['-tttt'], ['-ttttt'],
  ['-x'], ['-xx'], ['-X'], ['-XX'], ['-A'], ['--nano'], ['-tt', '--nano'], ['-vvv', '-XX', '-e'],
];

function compare(file: string, flags: string[]): void {
  const want = tcpdump(['-n', '-r', file, ...flags]).split('\n');
  const r = nmts(['-n', '-r', file, ...flags]);
  assert.equal(r.status, 0, r.stderr);
  const got = r.stdout.split('\n');
  for (let i = 0; i < Math.max(want.length, got.length); i++) {
    assert.equal(got[i], want[i], `${flags.join(' ') || '(no flags)'}: line ${i + 1} differs`);
  }
}

describe('nmts capture -r prints what tcpdump -r prints', { skip: skipTcpdump }, () => {
  for (const f of FLAGS) test(`synthetic mix: -n ${f.join(' ')}`, () => compare(SYN, f));
  test('-A: a CR among the last two bytes prints nothing, one before LF nothing, any other a dot', () => {
    const file = join(dir, 'cr.pcap');
    writeFileSync(file, decodePcap(carriageReturnFrames()));
    compare(file, ['-A']);
    compare(file, ['-X']);
  });

  describe('a real exchange between two namespaces', { skip: skipReal }, () => {
    const tag = `${process.pid % 100000}`;
    const nsA = `capr-a-${tag}`, nsB = `capr-b-${tag}`, ifA = `capa${tag}`, ifB = `capb${tag}`;
    const REAL = join(dir, 'real.pcap');
    const sh = (...a: string[]): string => execFileSync('ip', a, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const inNs = (ns: string, cmd: string): string => execFileSync('ip', ['netns', 'exec', ns, 'sh', '-c', cmd], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 });
    after(() => {
      for (const ns of [nsA, nsB]) try { sh('netns', 'del', ns); } catch { /* not made */ }
    });
    test('record it with tcpdump', async () => {
      sh('netns', 'add', nsA); sh('netns', 'add', nsB);
      sh('link', 'add', ifA, 'type', 'veth', 'peer', 'name', ifB);
      sh('link', 'set', ifA, 'netns', nsA); sh('link', 'set', ifB, 'netns', nsB);
      inNs(nsA, `ip addr add 10.78.0.1/24 dev ${ifA} && ip addr add fd78::1/64 dev ${ifA} nodad && ip link set ${ifA} up && ip link set lo up`);
      inNs(nsB, `ip addr add 10.78.0.2/24 dev ${ifB} && ip addr add fd78::2/64 dev ${ifB} nodad && ip link set ${ifB} up && ip link set lo up`);
      const rec = spawn('ip', ['netns', 'exec', nsA, 'tcpdump', '-Z', 'root', '--immediate-mode', '-i', ifA, '-U', '-w', REAL], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      await new Promise<void>((res, rej) => {
        rec.stderr.setEncoding('utf8').on('data', (d: string) => { err += d; if (err.includes('listening on')) res(); });
        rec.on('exit', () => rej(new Error(`tcpdump: ${err}`)));
      });
      const server = spawn('ip', ['netns', 'exec', nsB, 'sh', '-c', 'timeout 5 nc -l 10.78.0.2 45678 >/dev/null & timeout 5 nc -u -l 10.78.0.2 45679 >/dev/null & wait'], { stdio: 'ignore' });
      inNs(nsA, 'ping -c 2 -i 0.2 10.78.0.2 >/dev/null; ping -6 -c 2 -i 0.2 fd78::2 >/dev/null');
      inNs(nsA, 'echo hello there | timeout 2 nc -q0 10.78.0.2 45678; echo udp | timeout 2 nc -u -q0 10.78.0.2 45679; timeout 2 nc -z 10.78.0.2 45680; timeout 2 nc -6 -z fd78::2 45681; true');
      await new Promise((r) => setTimeout(r, 300));
      rec.kill('SIGINT');
      await new Promise((r) => rec.on('close', r));
      server.kill('SIGKILL');
      const n = tcpdump(['-n', '-r', REAL]).split('\n').filter((l) => l).length;
      assert.ok(n >= 20, `only ${n} packets recorded`);
    });
    for (const f of FLAGS) test(`real exchange: -n ${f.join(' ')}`, () => compare(REAL, f));

    test('-D lists the veth of the namespace with its backend', () => {
      const out = execFileSync('ip', ['netns', 'exec', nsA, process.execPath, CLI, '-D'], { encoding: 'utf8' });
      assert.match(out, new RegExp(`^\\d+\\.${ifA} \\[Up, Running\\] netmap:${ifA}: (AF_XDP|AF_PACKET) \\(.+\\)$`, 'm'), out);
      assert.match(out, /^\d+\.lo \[Up, Running, Loopback\] netmap:lo: AF_PACKET \(MTU 65536/m, out);
    });
  });
});

describe('-r in its forms', () => {
  test('-r - reads standard input (a pipe): the same lines as from the file', { skip: skipTcpdump }, () => {
    const a = nmts(['-n', '-v', '-r', SYN]);
    const b = nmts(['-n', '-v', '-r', '-'], readFileSync(SYN));
    assert.equal(b.status, 0, b.stderr);
    assert.equal(b.stdout, a.stdout);
    assert.match(b.stderr, /^23 packets read, 23 matched$/m);
  });

  test('a filter, -c, the summary line', () => {
    const r = nmts(['-r', SYN, '-c', '2', 'tcp']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.split('\n').filter((l) => l).length, 2);
    assert.match(r.stderr, /^reading from file .*, link-type EN10MB \(Ethernet\), snapshot length 65535$/m);
    assert.match(r.stderr, /^6 packets read, 2 matched$/m); // the first TCP segments are frames 5 and 6
  });

  test('-w with a filter: tshark reads the matching packets back (pcap and pcapng)', { skip: skipTshark || skipTcpdump }, () => {
    const want = tcpdump(['-n', '-r', SYN, 'udp or icmp6']).split('\n').filter((l) => l).length;
    for (const ng of [false, true]) {
      const out = join(dir, `w.${ng ? 'pcapng' : 'pcap'}`);
      const r = nmts(['-r', SYN, '-w', out, ...(ng ? ['--pcapng'] : []), 'udp', 'or', 'icmp6']);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, new RegExp(`^23 packets read, ${want} matched$`, 'm'));
      const lines = execFileSync('tshark', ['-r', out, '-T', 'fields', '-e', 'frame.len', '-e', 'frame.time_epoch'], { encoding: 'utf8' }).trim().split('\n');
      assert.equal(lines.length, want);
      // original lengths and timestamps kept: the same as tcpdump sees them in the input
      assert.equal(tcpdump(['-n', '-tt', '-r', out]), tcpdump(['-n', '-tt', '-r', SYN, 'udp or icmp6']));
    }
  });

  test('-r - with -w -: a pipeline through nmts capture', { skip: skipTcpdump }, () => {
    const r = spawnSync(process.execPath, [CLI, '-r', '-', '-w', '-', 'arp'], { input: readFileSync(SYN), maxBuffer: 1 << 20 });
    assert.equal(r.status, 0, String(r.stderr));
    const f = join(dir, 'arp.pcap');
    writeFileSync(f, r.stdout);
    assert.equal(tcpdump(['-n', '-r', f]), tcpdump(['-n', '-r', SYN, 'arp']));
  });

  test('a big file streams through a bounded buffer (library, 200000 packets)', async () => {
    const frames = decodeFrames();
    const big = join(dir, 'big.pcap');
    const parts: Uint8Array[] = [];
    const one = decodePcap(frames);
    for (let k = 0; k < Math.floor(200000 / frames.length); k++) parts.push(one.subarray(k === 0 ? 0 : 24));
    writeFileSync(big, Buffer.concat(parts));
    let lines = 0;
    const before = process.memoryUsage().rss;
    const r = await readCapture({ readFile: big, filter: 'tcp port 41000' }, { out: () => { lines++; }, err: () => {} });
    const grown = process.memoryUsage().rss - before;
    const reps = Math.floor(200000 / frames.length);
    assert.equal(r.read, reps * frames.length);
    assert.equal(r.matched, reps * 7); // the handshake, data, FIN, RST and the last ACK of each copy
    assert.equal(lines, r.matched);
    assert.ok(grown < 64 << 20, `rss grew ${grown} bytes for a ${statSync(big).size}-byte file`);
  });
});

test('a live capture prints the lines tcpdump prints for the same frames (-t -v -e)', { skip: skipTcpdump }, async () => {
  // a pipe delivers every frame (a VALE switch would learn the sources and send some back)
  const pipe = `capl${process.pid}`;
  const tx = open(`${pipe}{1`);
  try {
    const frames = decodeFrames();
    const child = spawn(process.execPath, [CLI, '-n', '-t', '-v', '-e', '-i', `${pipe}}1`, '-c', String(frames.length)], { env, stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 });
    let out = '', err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
    await new Promise<void>((res) => child.stderr.setEncoding('utf8').on('data', (d: string) => { err += d; if (err.includes('listening on')) res(); }));
    sendFrames(tx, frames);
    const code = await new Promise((r) => child.on('close', r));
    assert.equal(code, 0, err);
    assert.equal(out, tcpdump(['-n', '-t', '-v', '-e', '-r', SYN]));
  } finally {
    tx.close();
  }
});

describe('-F, -Q, -Z and the options', () => {
  test('-F: the filter from a file, # comments; with an expression too it is an error', () => {
    const f = join(dir, 'filter.txt');
    writeFileSync(f, 'udp # the datagrams\n  or arp\n');
    const a = nmts(['-n', '-r', SYN, '-F', f]);
    const b = nmts(['-n', '-r', SYN, 'udp or arp']);
    assert.equal(a.status, 0, a.stderr);
    assert.equal(a.stdout, b.stdout);
    assert.ok(a.stdout.split('\n').filter((l) => l).length > 5);
    const c = nmts(['-r', SYN, '-F', f, 'tcp']);
    assert.equal(c.status, 2);
    assert.match(c.stderr, /-F .* and an expression on the command line/);
  });

  test('parser: counts of -v -x -X -t, -Q values, -r with -i refused', () => {
    const o = parseCaptureArgs(['-r', 'f', '-vvv', '-xx', '-XX', '-tttt', '-A', '-S', '-l', '-p', '--micro'], () => '');
    assert.deepEqual([o.verbose, o.hex, o.hexAscii, o.tsMode, o.ascii, o.absoluteSeq, o.lineBuffered, o.noPromisc, o.micro], [3, 2, 2, 4, true, true, true, true, true]);
    assert.equal(parseCaptureArgs(['-i', 'p', '-Q', 'out']).direction, 'out');
    assert.equal(parseCaptureArgs(['-F', 'x', '-r', 'f'], () => 'udp\n').filter, 'udp');
    for (const bad of [['-i', 'p', '-Q', 'both'], ['-i', 'p', '-r', 'f'], ['-r', 'f', '-Q', 'in'], ['-r', 'f', '-F', '/nonexistent/x']]) {
      assert.throws(() => parseCaptureArgs(bad), CaptureUsageError, bad.join(' '));
    }
    assert.equal(parseCaptureArgs(['-D']).listInterfaces, true);
  });

  test('-Q: a monitor takes the direction asked for; a plain port only receives', () => {
    assert.equal(portForDirection('vale0:1/rt', 'in'), 'vale0:1/r');
    assert.equal(portForDirection('vale0:1/r', 'out'), 'vale0:1/t');
    assert.equal(portForDirection('vale0:1/t', 'inout'), 'vale0:1/rt');
    assert.equal(portForDirection('vale0:1', 'in'), 'vale0:1');
    assert.equal(portForDirection('vale0:1', undefined), 'vale0:1');
    assert.throws(() => portForDirection('vale0:1', 'out'), CaptureDirectionError);
    assert.throws(() => portForDirection('netmap:eth0', 'inout'), /monitor it: -i 'netmap:eth0\/rt'/);
  });

  test('-Q out on a monitor captures what the port sends, not what it receives', async () => {
    const sw = `valeCapQ${process.pid}`;
    const a = open(`${sw}:a`), b = open(`${sw}:b`);
    try {
      const frames = decodeFrames();
      const child = spawn(process.execPath, [CLI, '-n', '-t', '-i', `${sw}:a/rt`, '-Q', 'out', '-c', '3'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '', err = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
      await new Promise<void>((res) => child.stderr.setEncoding('utf8').on('data', (d: string) => { err += d; if (err.includes('listening on')) res(); }));
      sendFrames(b, [frames[2]!, frames[2]!]); // b -> a (a receives): not captured
      await new Promise((r) => setTimeout(r, 100));
      a.rxsync();
      sendFrames(a, [frames[10]!, frames[10]!, frames[10]!]); // a sends: captured
      const code = await new Promise((r) => child.on('close', r));
      assert.equal(code, 0, err);
      assert.match(err, /listening on .*:a\/t,/);
      const lines = out.trim().split('\n');
      assert.equal(lines.length, 3);
      for (const l of lines) assert.equal(l, 'IP 10.1.0.1.15353 > 10.1.0.2.9999: UDP, length 10');
    } finally {
      a.close(); b.close();
    }
  });

  test('-Z: privileges dropped after opening the input; the files are the user\'s', { skip: needs(['root'], 'setuid to another user') || (spawnSync('id', ['-u', 'nobody']).status !== 0 ? 'needs the user nobody' : false) }, () => {
    const uid = Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).trim());
    const zdir = join(dir, 'z');
    mkdirSync(zdir);
    chmodSync(dir, 0o755);
    chmodSync(zdir, 0o777);
    const r = nmts(['-r', SYN, '-Z', 'nobody', '-w', join(zdir, 'out.pcap'), '-C', '1k']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`running as nobody \\(uid ${uid}, gid \\d+\\)`));
    const files = readdirSync(zdir).sort();
    assert.deepEqual(files, ['out.pcap', 'out.pcap1']);
    for (const f of files) assert.equal(statSync(join(zdir, f)).uid, uid, f);
    // a file the user may not write: the error names it, exit code 1
    const denied = join(dir, 'root-only');
    mkdirSync(denied, { mode: 0o700 });
    const d = nmts(['-r', SYN, '-Z', 'nobody', '-w', join(denied, 'x.pcap')]);
    assert.equal(d.status, 1);
    assert.match(d.stderr, /EACCES/);
    const u = nmts(['-r', SYN, '-Z', 'no-such-user-here', '-w', join(zdir, 'y.pcap')]);
    assert.equal(u.status, 1);
    assert.match(u.stderr, /getpwnam\(no-such-user-here\)/);
  });

  test('--help lists the options that work', () => {
    const r = nmts(['--help']);
    for (const o of ['-r FILE', '-F FILE', '-Q DIR', '-Z USER', '-D', '-v', '-x', '-X', '-A', '-t', '-S', '-l', '-p', '--micro']) assert.ok(r.stdout.includes(o), o);
  });
});
