// The daemon's VXLAN FDB commands (vxlan-fdb-add, vxlan-fdb-del, vxlan-fdb-show): the same
// static entries and table as vale-ctl --vxlan-fdb / -del / -show, over the control socket,
// with each mistake named by its code. No network and no privilege: the port's files only
// (its table written by an opener made in the test, as vxlan-config.test does).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dir = mkdtempSync(join(tmpdir(), 'nmts-dvxfdb-'));
process.env.NMTS_SHM_DIR = dir;
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const { parseVxlanSpec, storeVxlanConfig } = await import('../src/ports/vxlan/config.js');
const { Fdb, fdbCapacity } = await import('../src/ports/vxlan/fdb.js');
const { FdbTable } = await import('../src/ports/vxlan/fdb-table.js');
const { parseVtep } = await import('../src/packet/vxlan.js');
const { daemonRequest, runDaemon } = await import('../src/apps/daemon/daemon.js');
const { valeCtl } = await import('../src/apps/vale-ctl/vale-ctl.js');

const mac = (s: string): Uint8Array => Uint8Array.from(s.split(':').map((h) => parseInt(h, 16)));

test('vxlan-fdb-add / -show / -del over the control socket: entries added, listed (closed and open), removed; errors by code; logged', async () => {
  storeVxlanConfig('vxd1', parseVxlanSpec('vni=42,local=10.0.0.1,remote=10.0.0.2,fdb=02:00:00:00:00:0a@10.0.0.9'));
  const sock = join(dir, 'd.sock');
  const logs: string[] = [];
  const d = await runDaemon({ socketPath: sock, log: (l) => logs.push(l) });
  let id = 0;
  const req = (cmd: string, extra: Record<string, unknown>): Promise<Record<string, unknown>> => daemonRequest(sock, { id: ++id, cmd, ...extra });
  try {
    const added = await req('vxlan-fdb-add', { port: 'vxd1', entry: '02:00:00:00:00:01@10.0.0.2' });
    assert.deepEqual({ ok: added.ok, port: added.port, mac: added.mac, dst: added.dst }, { ok: true, port: 'vxd1', mac: '02:00:00:00:00:01', dst: '10.0.0.2' });
    assert.ok(logs.some((l) => /vxlan-fdb-add vxd1 02:00:00:00:00:01@10\.0\.0\.2/.test(l)), logs.join('\n'));

    // closed: the static entries it opens with (configuration first), as vale-ctl shows them
    const closed = await req('vxlan-fdb-show', { port: 'vxd1' });
    assert.equal(closed.ok, true);
    assert.equal(closed.open, false);
    assert.equal(closed.note, 'no table: the port was never opened');
    assert.deepEqual(closed.entries, [
      { mac: '02:00:00:00:00:0a', vtep: '10.0.0.9', static: true, ageSec: null },
      { mac: '02:00:00:00:00:01', vtep: '10.0.0.2', static: true, ageSec: null },
    ]);
    assert.match(valeCtl(['--vxlan-fdb-show', 'vxd1']).stdout, /02:00:00:00:00:01 dst 10\.0\.0\.2 static/);

    // open: the table in force, learned entries with their age
    const t = FdbTable.open('vxd1', fdbCapacity(8), 60_000);
    try {
      const f = new Fdb(8, 60, t.arrays);
      f.addStatic(mac('02:00:00:00:00:0a'), parseVtep('10.0.0.9')!);
      f.learn(mac('02:00:00:00:00:05'), 0, parseVtep('10.0.0.5')!, 0, performance.now() - 2000);
      const open = await req('vxlan-fdb-show', { port: 'vxd1' });
      assert.equal(open.open, true);
      const entries = open.entries as { mac: string; vtep: string; static: boolean; ageSec: number | null }[];
      assert.deepEqual(entries.map((e) => [e.mac, e.vtep, e.static]), [['02:00:00:00:00:05', '10.0.0.5', false], ['02:00:00:00:00:0a', '10.0.0.9', true]]);
      assert.ok(entries[0].ageSec! >= 1.9 && entries[0].ageSec! < 5, `age ${entries[0].ageSec}`);
    } finally {
      t.close();
    }

    const del = await req('vxlan-fdb-del', { port: 'vxd1', entry: '02:00:00:00:00:01' });
    assert.deepEqual({ ok: del.ok, mac: del.mac, dst: del.dst }, { ok: true, mac: '02:00:00:00:00:01', dst: null });
    assert.ok(logs.some((l) => /vxlan-fdb-del vxd1 02:00:00:00:00:01$/.test(l)), logs.join('\n'));
    const after = await req('vxlan-fdb-show', { port: 'vxd1' });
    assert.deepEqual((after.entries as { mac: string }[]).map((e) => e.mac), ['02:00:00:00:00:0a']);

    // each mistake by its code
    const code = async (cmd: string, extra: Record<string, unknown>): Promise<string> => {
      const r = await req(cmd, extra);
      assert.equal(r.ok, false, JSON.stringify(r));
      return `${r.code}: ${r.error}`;
    };
    assert.match(await code('vxlan-fdb-del', { port: 'vxd1', entry: '02:00:00:00:00:01' }), /^ENOENT: no static entry 02:00:00:00:00:01/);
    assert.match(await code('vxlan-fdb-del', { port: 'vxd1', entry: '02:00:00:00:00:0a' }), /^EPERM: .*part of vxd1's configuration/);
    assert.match(await code('vxlan-fdb-add', { port: 'vxnone', entry: '02:00:00:00:00:01@10.0.0.2' }), /^ENXIO: no VXLAN port vxnone/);
    assert.match(await code('vxlan-fdb-show', { port: 'vxnone' }), /^ENXIO: .*vxnone/);
    assert.match(await code('vxlan-fdb-add', { port: 'vxd1', entry: '01:00:5e:00:00:01@10.0.0.2' }), /^EINVAL: .*multicast address/);
    assert.match(await code('vxlan-fdb-add', { port: 'vxd1', entry: '02:00:00:00:00:01' }), /^EINVAL: .*expected MAC@VTEP/);
    assert.match(await code('vxlan-fdb-add', { port: 'vxd1' }), /^EINVAL: missing argument 'entry'/);
    assert.match(await code('vxlan-fdb-add', { port: 'vale0:x', entry: '02:00:00:00:00:01@10.0.0.2' }), /^EINVAL: 'vale0:x' is not a VXLAN port name/);
    assert.match(await code('vxlan-fdb-show', { port: 'vxd1', entry: 'x' }), /^EINVAL: unknown argument 'entry' for vxlan-fdb-show/);
  } finally {
    await d.close();
  }
});
