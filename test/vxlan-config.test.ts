// The VXLAN port's pieces that need no network: the --vxlan option (every key, every error),
// its config file (stored, read back through the same checks, hostile contents refused), the
// FDB (learning, moves, ageing, static entries, eviction), its shared table as vale-ctl
// --vxlan-fdb-show reads it (planted and changing files included), and vale-ctl's -n --vxlan /
// -r / -v.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dir = mkdtempSync(join(tmpdir(), 'nmts-vxcfg-'));
process.env.NMTS_SHM_DIR = dir;
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const { parseVxlanSpec, formatVxlanSpec, storeVxlanConfig, loadVxlanConfig, vxlanConfigPath, vxlanExists, vxlanNames } = await import('../src/ports/vxlan/config.js');
const { Fdb } = await import('../src/ports/vxlan/fdb.js');
const { formatVtep, parseVtep } = await import('../src/packet/vxlan.js');
const { valeCtl } = await import('../src/apps/vale-ctl/vale-ctl.js');
const { NetmapError } = await import('../src/core/region.js');
const statsModule = await import('../src/ports/vxlan/stats.js');
const { FdbTable, readFdbTable } = await import('../src/ports/vxlan/fdb-table.js');
const { fdbCapacity } = await import('../src/ports/vxlan/fdb.js');
const { vxlanTablePath } = await import('../src/ports/vxlan/config.js');

const mac = (s: string): Uint8Array => Uint8Array.from(s.split(':').map((h) => parseInt(h, 16)));

test('--vxlan: keys, defaults and repeated remotes', () => {
  const c = parseVxlanSpec('vni=42,local=10.0.0.1,remote=10.0.0.2,remote=10.0.0.3,remote=10.0.0.2,group=239.1.1.1,dev=eth0,port=8472,ttl=9,df=0,ageing=60,fdb=02:00:00:00:00:0A@10.0.0.3');
  assert.deepEqual(c, {
    vni: 42, local: '10.0.0.1', remotes: ['10.0.0.2', '10.0.0.3'], group: '239.1.1.1', dev: 'eth0', port: 8472, ttl: 9, df: false, ageing: 60,
    fdb: [{ mac: '02:00:00:00:00:0a', dst: '10.0.0.3' }], offloads: true,
  });
  const d = parseVxlanSpec('vni=7,local=192.168.1.1');
  assert.deepEqual([d.port, d.ttl, d.df, d.ageing, d.remotes, d.group, d.dev, d.offloads], [4789, 64, true, 300, [], null, null, true]);
  // offloads=0: listed (the default is not), and parsed back
  const o = parseVxlanSpec('vni=7,local=192.168.1.1,offloads=0');
  assert.equal(o.offloads, false);
  assert.match(formatVxlanSpec(o), /,offloads=0$/);
  assert.deepEqual(parseVxlanSpec(formatVxlanSpec(o)), o);
  assert.doesNotMatch(formatVxlanSpec(d), /offloads/);
  assert.throws(() => parseVxlanSpec('vni=7,local=192.168.1.1,offloads=2'), /offloads/);
  assert.deepEqual(parseVxlanSpec(formatVxlanSpec(c)), c, 'the listing form parses back');
  // an IPv6 underlay: addresses in RFC 5952 form
  const v6 = parseVxlanSpec('vni=42,local=FD00:0::1,remote=fd00::2,remote=fd00:0:0::2,group=ff05::42,fdb=02:00:00:00:00:01@fd00::3');
  assert.deepEqual([v6.local, v6.remotes, v6.group, v6.fdb[0].dst], ['fd00::1', ['fd00::2'], 'ff05::42', 'fd00::3']);
  assert.deepEqual(parseVxlanSpec(formatVxlanSpec(v6)), v6);
});

test('--vxlan: each mistake named', () => {
  const cases: Array<[string, RegExp]> = [
    ['local=10.0.0.1', /vni= is required/],
    ['vni=42', /local= is required/],
    ['vni=16777216,local=10.0.0.1', /vni=16777216: expected a number in 0\.\.16777215/],
    ['vni=4x,local=10.0.0.1', /vni=4x/],
    ['vni=1,local=10.0.0.256', /local=10\.0\.0\.256 is not an IPv4 address/],
    ['vni=1,local=10.0.0.1,remote=10.0.0.1', /own address/],
    ['vni=1,local=10.0.0.1,group=10.0.0.9', /not a multicast address/],
    ['vni=1,local=10.0.0.1,port=0', /port=0/],
    ['vni=1,local=10.0.0.1,dev=a/b', /dev=a\/b is not an interface name/],
    ['vni=1,local=10.0.0.1,fdb=02:00:00:00:00:01', /expected MAC@VTEP/],
    ['vni=1,local=10.0.0.1,colour=blue', /unknown key 'colour'/],
    ['vni=1,local', /'local' is not key=value/],
    ['vni=1,local=fd00::1,remote=10.0.0.2', /remote=10\.0\.0\.2 is not IPv6 as local=fd00::1 is/],
    ['vni=1,local=10.0.0.1,fdb=02:00:00:00:00:01@fd00::2', /fdb=fd00::2 is not IPv4 as local=10\.0\.0\.1 is/],
    ['vni=1,local=fd00::1,group=fd00::9', /group=fd00::9 is not a multicast address/],
    ['vni=1,local=fd00::1,remote=fd00::1', /own address/],
    ['vni=1,local=::ffff:10.0.0.1', /write an IPv4 VTEP as a\.b\.c\.d/],
    ['vni=1,local=fd00::1%eth0', /is not an IPv4 address \(a\.b\.c\.d\) or an IPv6 address/],
  ];
  for (const [spec, re] of cases) {
    assert.throws(() => parseVxlanSpec(spec), (e: unknown) => e instanceof NetmapError && e.code === 'EINVAL' && re.test(e.message), spec);
  }
});

test('config file: stored once, read back checked; hostile contents refused', () => {
  const c = parseVxlanSpec('vni=5,local=10.1.0.1,remote=10.1.0.2');
  storeVxlanConfig('vxt1', c);
  assert.ok(vxlanExists('vxt1'));
  assert.deepEqual(loadVxlanConfig('vxt1').config, c);
  assert.throws(() => storeVxlanConfig('vxt1', c), /EEXIST|exists/);
  assert.throws(() => storeVxlanConfig('vale0', c), /not a VXLAN port name/);
  assert.ok(!vxlanExists('nope'));
  assert.throws(() => loadVxlanConfig('nope'), (e: unknown) => e instanceof NetmapError && e.code === 'ENXIO');
  for (const [name, text] of [['vxbad1', '{"vni": 99999999, "local": "10.0.0.1"}'], ['vxbad2', 'not json'], ['vxbad3', '{"vni": 1, "local": "10.0.0.1", "remotes": ["x"]}'],
    ['vxbad4', 'x'.repeat(5000)]] as const) {
    writeFileSync(vxlanConfigPath(name), text);
    assert.throws(() => loadVxlanConfig(name), (e: unknown) => e instanceof NetmapError && e.code === 'EINVAL', name);
  }
  assert.deepEqual(vxlanNames().filter((n) => n.startsWith('vxt')), ['vxt1']);
});

test('FDB: learns, follows a MAC that moves, ages out, keeps static entries, evicts the oldest of a full bucket', () => {
  const f = new Fdb(1, 10); // one bucket of 4 ways, 10 s ageing
  const v = (t: string): Uint8Array => parseVtep(t)!;
  /** The VTEP of the entry lookup() found, as text ('' for none). */
  const at = (m: Uint8Array, now: number): string => {
    const e = f.lookup(m, 0, now);
    return e === 0 ? '' : formatVtep(f.addr, (e - 1) * 16);
  };
  const a = mac('02:00:00:00:00:01');
  assert.equal(f.lookup(a, 0, 0), 0);
  f.learn(a, 0, v('10.0.0.2'), 0, 1000);
  assert.equal(at(a, 1000), '10.0.0.2');
  f.learn(a, 0, v('10.0.0.3'), 0, 2000); // moved behind another VTEP
  assert.equal(at(a, 2000), '10.0.0.3');
  assert.deepEqual([f.learned, f.moved], [1, 1]);
  assert.equal(f.lookup(a, 0, 2000 + 10_001), 0, 'aged out');
  f.learn(mac('01:00:5e:00:00:01'), 0, v('10.0.0.2'), 0, 3000); // multicast sources are not learned
  assert.equal(f.size(3000), 1);
  const s = mac('02:00:00:00:00:05');
  f.addStatic(s, v('10.0.0.9'));
  f.learn(s, 0, v('10.0.0.2'), 0, 4000);
  assert.equal(at(s, 1e9), '10.0.0.9', 'static: never moved or aged');
  for (let i = 0; i < 4; i++) f.learn(mac(`02:00:00:00:01:0${i}`), 0, v(`10.0.1.${i}`), 0, 5000 + i);
  // the bucket held a (live, learned at 2000) and s: two new entries took the free ways, the
  // third replaced a, the fourth the oldest of the new ones
  assert.equal(f.evicted, 2, 'a full bucket replaced its oldest learned entries');
  assert.equal(f.lookup(a, 0, 6000), 0);
  assert.equal(at(mac('02:00:00:00:01:03'), 6000), '10.0.1.3');
  assert.equal(at(s, 6000), '10.0.0.9', 'the static entry stays');
  assert.deepEqual(f.entries(6000).filter((e) => e.static).map((e) => e.mac), ['02:00:00:00:00:05']);
  assert.ok(f.remove(s, 0), 'a static entry removed at run time');
  assert.equal(f.lookup(s, 0, 6000), 0);
  assert.ok(!f.remove(s, 0));
  f.learn(s, 0, v('10.0.0.2'), 0, 7000);
  assert.equal(at(s, 7000), '10.0.0.2', 'then learned as any MAC');
});

test('FDB: VTEPs keyed by address family (IPv6, and IPv4 as ::ffff:a.b.c.d never equal to it)', () => {
  const f = new Fdb(4, 10);
  const m = mac('02:00:00:00:00:09');
  f.learn(m, 0, parseVtep('fd00::2')!, 0, 100);
  assert.equal(formatVtep(f.addr, (f.lookup(m, 0, 100) - 1) * 16), 'fd00::2');
  f.learn(m, 0, parseVtep('::ffff:10.0.0.2')!, 0, 200);
  assert.equal(f.moved, 1, 'an IPv4 VTEP is another VTEP');
  assert.equal(f.entries(200)[0].vtep, '10.0.0.2');
  f.learn(m, 0, parseVtep('fd00:0:0::2')!, 0, 300);
  assert.equal(f.entries(300)[0].vtep, 'fd00::2', 'one address, however written');
  assert.equal(parseVtep('fd00::1%eth0'), null);
  assert.equal(parseVtep('10.0.0'), null);
});

test('FDB in a shared table: vale-ctl --vxlan-fdb-show lists learned and static entries, ages out, sees a closed opener', () => {
  storeVxlanConfig('vxtab', parseVxlanSpec('vni=42,local=10.0.0.1,remote=10.0.0.2,ageing=60,fdb=02:00:00:00:00:0a@10.0.0.9'));
  const t = FdbTable.open('vxtab', fdbCapacity(8), 60_000);
  try {
    const f = new Fdb(8, 60, t.arrays);
    const now = performance.now();
    f.addStatic(mac('02:00:00:00:00:0a'), parseVtep('10.0.0.9')!);
    f.learn(mac('02:00:00:00:00:02'), 0, parseVtep('10.0.0.2')!, 0, now - 5000); // last frame 5 s ago
    f.learn(mac('02:00:00:00:00:01'), 0, parseVtep('fd00::3')!, 0, now);
    f.learn(mac('02:00:00:00:00:03'), 0, parseVtep('10.0.0.3')!, 0, now - 61_000); // aged out
    const r = readFdbTable('vxtab');
    assert.ok(!('error' in r), JSON.stringify(r));
    assert.equal(r.open, true);
    assert.deepEqual(r.entries.map((e) => [e.mac, e.vtep, e.static]), [
      ['02:00:00:00:00:01', 'fd00::3', false], ['02:00:00:00:00:02', '10.0.0.2', false], ['02:00:00:00:00:0a', '10.0.0.9', true],
    ], 'MAC order; the aged-out entry left out');
    const age = r.entries[1].ageSec!;
    assert.ok(age >= 4.9 && age < 7, `the second entry's last frame ${age} s ago`);
    assert.equal(r.entries[2].ageSec, null);
    const shown = valeCtl(['--vxlan-fdb-show', 'vxtab']);
    assert.equal(shown.status, 0, shown.stderr);
    assert.match(shown.stdout, /^02:00:00:00:00:01 dst fd00::3 learned, last frame \d+\.\d s ago\n02:00:00:00:00:02 dst 10\.0\.0\.2 learned, last frame [5-6]\.\d s ago\n02:00:00:00:00:0a dst 10\.0\.0\.9 static\n$/);
    f.learn(mac('02:00:00:00:00:02'), 0, parseVtep('10.0.0.7')!, 0, now); // moved
    assert.ok(f.remove(mac('02:00:00:00:00:01'), 0));
    const r2 = readFdbTable('vxtab');
    assert.ok(!('error' in r2));
    assert.deepEqual(r2.entries.map((e) => `${e.mac}@${e.vtep}`), ['02:00:00:00:00:02@10.0.0.7', '02:00:00:00:00:0a@10.0.0.9']);
  } finally {
    t.close();
  }
  const closed = readFdbTable('vxtab');
  assert.ok(!('error' in closed) && closed.open === false, 'the opener gone: the table says so');
  const shown = valeCtl(['--vxlan-fdb-show', 'vxtab']);
  assert.equal(shown.status, 0, shown.stderr);
  assert.equal(shown.stdout, 'vxtab: closed: no learned entries; the static ones it opens with:\n02:00:00:00:00:0a dst 10.0.0.9 static\n');
  const none = valeCtl(['--vxlan-fdb-show', 'vxnone']);
  assert.equal(none.status, 1);
  assert.match(none.stderr, /failed to list the FDB of vxnone: .*no VXLAN port vxnone/);
  assert.equal(valeCtl(['--vxlan-fdb-show']).status, 2);
  assert.equal(valeCtl(['-r', 'vxtab']).status, 0);
  const gone = readFdbTable('vxtab');
  assert.ok('error' in gone && /never opened/.test(gone.error), '-r removes the table too');
});

test('FDB table: planted or changing files are refused with a reason, never hang or crash the reader', () => {
  const path = vxlanTablePath('vxbad');
  mkdirSync(join(dir, 'nmts.vxlan'), { recursive: true });
  const cases: Array<[string, () => void, RegExp]> = [
    ['missing', () => {}, /never opened/],
    ['short', () => writeFileSync(path, Buffer.alloc(10)), /not a table/],
    ['bad magic', () => writeFileSync(path, Buffer.alloc(64 + 32 * 16)), /wrong magic/],
    ['huge', () => { writeFileSync(path, ''); execFileSync('truncate', ['-s', '1G', path]); }, /not a table/],
    ['a FIFO', () => execFileSync('mkfifo', [path]), /not a regular file/],
    ['a symlink', () => symlinkSync('/etc/passwd', path), /cannot open the table/],
  ];
  for (const [what, plant, re] of cases) {
    rmSync(path, { force: true });
    plant();
    const r = readFdbTable('vxbad');
    assert.ok('error' in r, what);
    assert.match(r.error, re, what);
  }
  rmSync(path, { force: true });
  // a table whose capacity word disagrees with its size, and one whose entry is changing
  const t = FdbTable.open('vxbad', fdbCapacity(2), 1000);
  const f = new Fdb(2, 1, t.arrays);
  f.learn(mac('02:00:00:00:00:01'), 0, parseVtep('10.0.0.2')!, 0, performance.now());
  const u32 = new Uint32Array(t.arrays.gen.buffer, 0, 16);
  u32[2] = 1 << 20;
  let r = readFdbTable('vxbad');
  assert.ok('error' in r && /capacity of 1048576 entries does not match/.test(r.error), JSON.stringify(r));
  u32[2] = fdbCapacity(2);
  Atomics.add(t.arrays.gen, 0, 1); // odd: a writer in the middle of a change, for good
  r = readFdbTable('vxbad');
  assert.ok('error' in r && /kept changing/.test(r.error), JSON.stringify(r));
  Atomics.add(t.arrays.gen, 0, 1);
  r = readFdbTable('vxbad');
  assert.ok(!('error' in r) && r.entries.length === 1, JSON.stringify(r));
  t.close();
  rmSync(path, { force: true });
});

test('planted port files: a FIFO or symlink in place of the counters, static entries or table never hangs a reader or is written through', () => {
  storeVxlanConfig('vxpl', parseVxlanSpec('vni=42,local=10.0.0.1,remote=10.0.0.2'));
  const vxd = join(dir, 'nmts.vxlan'), victim = join(dir, 'victim.txt');
  writeFileSync(victim, 'untouched\n');
  execFileSync('mkfifo', [join(vxd, 'vxpl.stats'), join(vxd, 'vxpl.fdb')]);
  assert.equal(statsModule.readVxlanStats('vxpl'), null, 'a FIFO is no counter page (and is not waited on)');
  assert.match(valeCtl(['-v']).stdout, /^vxpl vxlan .* closed never opened$/m);
  assert.equal(valeCtl(['--vxlan-fdb', 'vxpl,02:00:00:00:00:01@10.0.0.2']).status, 1, 'a FIFO is not appended to');
  assert.match(valeCtl(['--vxlan-fdb-show', 'vxpl']).stdout, /^vxpl: no table/);
  rmSync(join(vxd, 'vxpl.fdb'));
  symlinkSync(victim, join(vxd, 'vxpl.fdb'));
  const r = valeCtl(['--vxlan-fdb', 'vxpl,02:00:00:00:00:01@10.0.0.2']);
  assert.equal(r.status, 1, 'not through a symlink');
  assert.match(r.stderr, /failed to add an FDB entry to vxpl/);
  symlinkSync(victim, vxlanTablePath('vxpl'));
  rmSync(join(vxd, 'vxpl.stats'));
  symlinkSync(victim, join(vxd, 'vxpl.stats'));
  const t = FdbTable.open('vxpl', fdbCapacity(2), 1000); // the opener makes its own files
  const st = statsModule.VxlanStats.open('vxpl');
  t.close();
  st.close();
  assert.equal(readFileSync(victim, 'utf8'), 'untouched\n', 'the symlinks were replaced, not written through');
  assert.ok(!('error' in readFdbTable('vxpl')));
  assert.equal(valeCtl(['-r', 'vxpl']).status, 0);
});

test("the ports' directory: one others may write, or a symlink, is refused with EPERM naming it", () => {
  const vxd = join(dir, 'nmts.vxlan');
  mkdirSync(vxd, { recursive: true });
  chmodSync(vxd, 0o777);
  try {
    const r = valeCtl(['-n', 'vxdir', '--vxlan', 'vni=1,local=10.0.0.1']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /nmts\.vxlan: writable by others \(mode 0777\): another user may have made it; remove it/);
  } finally {
    chmodSync(vxd, 0o755);
  }
  renameSync(vxd, `${vxd}.real`);
  symlinkSync(`${vxd}.real`, vxd);
  try {
    assert.match(valeCtl(['-n', 'vxdir', '--vxlan', 'vni=1,local=10.0.0.1']).stderr, /nmts\.vxlan: not a directory \(a symlink or a file\)/);
  } finally {
    rmSync(vxd);
    renameSync(`${vxd}.real`, vxd);
  }
  assert.equal(valeCtl(['-n', 'vxdir', '--vxlan', 'vni=1,local=10.0.0.1']).status, 0, 'our own directory again');
  assert.equal(valeCtl(['-r', 'vxdir']).status, 0);
});

test('/metrics: a VXLAN port\'s counters, drops by cause, table entries and configuration (apps/metrics/vxlan-metrics.ts)', async () => {
  const { Registry } = await import('prom-client');
  const { addVxlanMetrics } = await import('../src/apps/metrics/vxlan-metrics.js');
  storeVxlanConfig('vxmet', parseVxlanSpec('vni=77,local=10.0.0.1,remote=10.0.0.2,remote=10.0.0.3,fdb=02:00:00:00:00:0c@10.0.0.3'));
  const st = statsModule.VxlanStats.open('vxmet');
  const t = FdbTable.open('vxmet', fdbCapacity(4), 300_000);
  try {
    const C = statsModule.C;
    st.c[C.txFrames] = 100; st.c[C.txBytes] = 6000; st.c[C.rxFrames] = 90; st.c[C.rxBytes] = 5400;
    st.c[C.txUnicast] = 60; st.c[C.txFlooded] = 40; st.c[C.txDatagrams] = 140; st.c[C.txGsoSends] = 5;
    st.c[C.txTooBig] = 3; st.c[C.rxWrongVni] = 7; st.c[C.rxRingFull] = 2; st.c[C.fdbLearned] = 4; st.c[C.fdbMoved] = 1;
    const f = new Fdb(4, 300, t.arrays);
    f.addStatic(mac('02:00:00:00:00:0c'), parseVtep('10.0.0.3')!);
    f.learn(mac('02:00:00:00:00:01'), 0, parseVtep('10.0.0.2')!, 0, performance.now());
    f.learn(mac('02:00:00:00:00:02'), 0, parseVtep('10.0.0.3')!, 0, performance.now());
    const reg = new Registry();
    addVxlanMetrics(reg);
    const text = await reg.metrics();
    const want = [
      'nmts_vxlan_info{port="vxmet",vni="77",local="10.0.0.1",remotes="10.0.0.2,10.0.0.3",group="",open="1"} 1',
      'nmts_vxlan_frames_total{port="vxmet",direction="tx"} 100', 'nmts_vxlan_frames_total{port="vxmet",direction="rx"} 90',
      'nmts_vxlan_bytes_total{port="vxmet",direction="rx"} 5400',
      'nmts_vxlan_tx_frames_total{port="vxmet",kind="flooded"} 40', 'nmts_vxlan_datagrams_total{port="vxmet"} 140',
      'nmts_vxlan_gso_sends_total{port="vxmet"} 5',
      'nmts_vxlan_drops_total{port="vxmet",direction="tx",cause="too_big"} 3',
      'nmts_vxlan_drops_total{port="vxmet",direction="rx",cause="wrong_vni"} 7',
      'nmts_vxlan_drops_total{port="vxmet",direction="rx",cause="ring_full"} 2',
      'nmts_vxlan_drops_total{port="vxmet",direction="rx",cause="socket_full"} 0',
      'nmts_vxlan_fdb_entries{port="vxmet",kind="static"} 1', 'nmts_vxlan_fdb_entries{port="vxmet",kind="learned"} 2',
      'nmts_vxlan_fdb_events_total{port="vxmet",event="moved"} 1',
    ];
    for (const line of want) assert.ok(text.split('\n').includes(line), `${line} in\n${text}`);
  } finally {
    t.close();
    st.close();
  }
  // the same port through HTTP: /api/vxlan and /metrics of a metrics server (port 0 on loopback)
  const { startMetricsServer } = await import('../src/apps/http/server.js');
  const { readMetrics } = await import('../src/vale/metrics.js');
  const st2 = statsModule.VxlanStats.open('vxmet'), t2 = FdbTable.open('vxmet', fdbCapacity(4), 300_000);
  const srv = await startMetricsServer({ snapshot: readMetrics }, { host: '127.0.0.1', port: 0, cacheMs: 0 });
  try {
    st2.c[statsModule.C.rxBadFlags] = 4;
    new Fdb(4, 300, t2.arrays).learn(mac('02:00:00:00:00:09'), 0, parseVtep('10.0.0.2')!, 0, performance.now());
    const api = await (await fetch(`${srv.url}/api/vxlan`)).json() as { ports: Array<{ name: string; spec: string; open: boolean; counters: Record<string, number>; fdb: Array<{ mac: string; vtep: string }> }> };
    const p = api.ports.find((x) => x.name === 'vxmet')!;
    assert.ok(p, JSON.stringify(api));
    assert.equal(p.spec, 'vni=77,local=10.0.0.1,remote=10.0.0.2,remote=10.0.0.3,port=4789,ttl=64,df=1,ageing=300,fdb=02:00:00:00:00:0c@10.0.0.3');
    assert.equal(p.open, true);
    assert.equal(p.counters.rx_bad_flags, 4);
    assert.deepEqual(p.fdb.map((e) => `${e.mac}@${e.vtep}`), ['02:00:00:00:00:09@10.0.0.2']);
    const m = await (await fetch(`${srv.url}/metrics`)).text();
    assert.match(m, /^nmts_vxlan_drops_total\{port="vxmet",direction="rx",cause="bad_flags"\} 4$/m);
  } finally {
    await srv.close();
    t2.close();
    st2.close();
  }
  const reg = new Registry();
  addVxlanMetrics(reg);
  const closed = await reg.metrics();
  assert.match(closed, /^nmts_vxlan_info\{port="vxmet",.*open="0"\} 1$/m, 'a closed port: its configuration, open="0"');
  assert.doesNotMatch(closed, /nmts_vxlan_fdb_entries\{port="vxmet"/, 'no table while closed');
  assert.equal(valeCtl(['-r', 'vxmet']).status, 0);
});

test('vale-ctl -n NAME --vxlan, -v, -r; usage errors', () => {
  const n = valeCtl(['-n', 'vxt2', '--vxlan', 'vni=42,local=10.0.0.1,remote=10.0.0.2']);
  assert.equal(n.status, 0, n.stderr);
  const again = valeCtl(['-n', 'vxt2', '--vxlan=vni=42,local=10.0.0.1']);
  assert.equal(again.status, 1);
  assert.match(again.stderr, /^failed to create vxt2: File exists/);
  const bad = valeCtl(['-n', 'vxt3', '--vxlan', 'vni=42']);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /failed to create vxt3: Invalid argument.*local= is required/);
  const v = valeCtl(['-v']);
  assert.match(v.stdout, /^vxt2 vxlan vni=42,local=10\.0\.0\.1,remote=10\.0\.0\.2,port=4789,ttl=64,df=1,ageing=300 closed never opened$/m);
  assert.equal(valeCtl(['-a', 'vale0:vxt2', '--vxlan', 'vni=1,local=10.0.0.1']).status, 2, '--vxlan applies to -n');
  assert.equal(valeCtl(['-n', 'vxt4', '--vxlan']).status, 2);
  // run-time static entries: kept beside the config, listed, and signalled to an opener
  const { VxlanStats, C } = statsModule;
  const st = VxlanStats.open('vxt2');
  try {
    const f = valeCtl(['--vxlan-fdb', 'vxt2,02:00:00:00:00:AB@10.0.0.7']);
    assert.equal(f.status, 0, f.stderr);
    assert.equal(st.c[C.fdbGen], 1, 'the opener is told');
  } finally {
    st.close();
  }
  assert.match(valeCtl(['-v']).stdout, /^vxt2 vxlan vni=42,.*,fdb=02:00:00:00:00:ab@10\.0\.0\.7 closed /m);
  assert.match(valeCtl(['--vxlan-fdb', 'vxt2,01:00:00:00:00:01@10.0.0.7']).stderr, /failed to add an FDB entry to vxt2: Invalid argument.*multicast/);
  assert.match(valeCtl(['--vxlan-fdb', 'nope,02:00:00:00:00:01@10.0.0.7']).stderr, /failed to add an FDB entry to nope: No such device or address/);
  assert.equal(valeCtl(['--vxlan-fdb', 'vxt2']).status, 2);
  // run-time removal: by MAC@VTEP or MAC; entries of the configuration are not removable so
  assert.equal(valeCtl(['--vxlan-fdb', 'vxt2,02:00:00:00:00:cd@10.0.0.8']).status, 0);
  const d = valeCtl(['--vxlan-fdb-del', 'vxt2,02:00:00:00:00:ab@10.0.0.7']);
  assert.equal(d.status, 0, d.stderr);
  assert.match(valeCtl(['-v']).stdout, /^vxt2 vxlan vni=42,.*ageing=300,fdb=02:00:00:00:00:cd@10\.0\.0\.8 closed /m);
  assert.match(valeCtl(['--vxlan-fdb-del', 'vxt2,02:00:00:00:00:ab']).stderr, /failed to remove an FDB entry from vxt2: No such file or directory.*no static entry 02:00:00:00:00:ab/);
  assert.equal(valeCtl(['--vxlan-fdb-del=vxt2,02:00:00:00:00:CD']).status, 0, 'by MAC alone');
  assert.doesNotMatch(valeCtl(['-v']).stdout, /fdb=/);
  assert.equal(valeCtl(['--vxlan-fdb-del', 'vxt2,nomac']).status, 1);
  assert.equal(valeCtl(['--vxlan-fdb-del', 'vxt2']).status, 2);
  assert.equal(valeCtl(['-n', 'vxt5', '--vxlan', 'vni=1,local=10.0.0.1,fdb=02:00:00:00:00:01@10.0.0.2']).status, 0);
  assert.match(valeCtl(['--vxlan-fdb-del', 'vxt5,02:00:00:00:00:01']).stderr, /Operation not permitted.*part of vxt5's configuration/);
  assert.equal(valeCtl(['-r', 'vxt5']).status, 0);
  const r = valeCtl(['-r', 'vxt2']);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(!vxlanExists('vxt2'));
});
