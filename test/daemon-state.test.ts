// The daemon's state driven directly, without a socket: hold/release/stats/view/close on a
// real switch, the errors each request gives, and the protocol's request checks (args.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { listSwitches, NetmapError } from '../src/index.js';
import { regionPath } from '../src/core/shm.js';
import { DaemonState, type Caller } from '../src/apps/daemon/state.js';
import { errorReply, parseRequest } from '../src/apps/daemon/args.js';

const ME: Caller = { id: 'test', peer: { pid: process.pid, uid: 0, gid: 0 } };
const SW = `valeds${process.pid}`;

function code(e: unknown): string {
  return e instanceof NetmapError ? e.code : String(e);
}

test('state: hold, view, stats, release and close on a real switch, one event per change', async () => {
  const events: string[] = [];
  const s = new DaemonState((e) => events.push(e));
  assert.equal(s.empty, true);

  const h = s.hold(`${SW}:a`, { rxSlots: 64, txSlots: 64 }, ME);
  assert.deepEqual(h, { port: `${SW}:a`, index: 0, already: false });
  assert.equal(s.hold(`${SW}:a`, {}, ME).already, true, 'a second hold of the same port is not a second port');
  s.hold(`${SW}:b`, {}, ME);
  assert.equal(s.empty, false);
  assert.equal(s.heldCount, 2);
  assert.deepEqual(events.filter((e) => e.includes(': hold ')), [`conn#test pid=${process.pid} uid=0: hold ${SW}:a (index 0)`, `conn#test pid=${process.pid} uid=0: hold ${SW}:b (index 1)`]);

  const v = s.view();
  assert.equal(v.pid, process.pid);
  const sw = v.switches.find((x) => x.name === SW);
  assert.ok(sw, 'the view lists the switch the held ports made');
  assert.deepEqual(sw.ports.map((p) => p.name).sort(), [`${SW}:a`, `${SW}:b`]);
  assert.deepEqual(v.held.map((p) => [p.port, p.switch, p.index, p.by.pid]), [[`${SW}:a`, SW, 0, process.pid], [`${SW}:b`, SW, 1, process.pid]]);
  assert.deepEqual(v.attachments, []);

  const st = s.stats(`${SW}:a`);
  assert.equal(st.switch, SW);
  assert.equal(st.index, 0);
  assert.throws(() => s.stats(`${SW}:nope`), (e) => code(e) === 'ENOENT');

  assert.deepEqual(s.release(`${SW}:b`, ME), { port: `${SW}:b` });
  assert.throws(() => s.release(`${SW}:b`, ME), (e) => code(e) === 'ENOENT');
  assert.deepEqual(s.heldPorts().map((p) => p.port), [`${SW}:a`]);

  const r = s.reclaim('test');
  assert.equal(r.reclaimed, 0, 'nobody died: nothing to reclaim');

  const c = await s.close();
  assert.deepEqual(c, { detached: [], released: [`${SW}:a`] });
  assert.equal(s.empty, true);
  assert.equal(listSwitches().some((x) => x.name === SW), false, 'the switch went with its last port');
  assert.equal(existsSync(regionPath(SW)), false, 'and so did its shared file');
  assert.throws(() => s.hold(`${SW}:c`, {}, ME), (e) => code(e) === 'ESHUTDOWN');
});

test('state: an interface is refused by hold, detach of nothing attached is ENXIO', async () => {
  const s = new DaemonState(() => {});
  assert.throws(() => s.hold('netmap:lo', {}, ME), (e) => code(e) === 'EINVAL' && /attaches interfaces/.test((e as Error).message));
  await assert.rejects(s.detach(`${SW}:nosuchif0`, ME), (e) => code(e) === 'ENXIO');
  await assert.rejects(s.polling(`${SW}:nosuchif0`, { mode: 'single' }, false, ME), (e) => code(e) === 'EINVAL');
  assert.equal(s.empty, true);
  await s.close();
});

test('protocol: request checks and error codes', () => {
  assert.deepEqual(parseRequest('{"id":7,"cmd":"held"}'), { ok: true, id: 7, command: 'held', req: { id: 7, cmd: 'held' } });
  const bad = (text: string): string => { const p = parseRequest(text); assert.equal(p.ok, false); return p.ok ? '' : p.code; };
  assert.equal(bad('{"cmd":'), 'EBADMSG');
  assert.equal(bad('[1]'), 'EINVAL');
  assert.equal(bad('{"id":1}'), 'EINVAL');
  assert.equal(bad('{"cmd":"fly"}'), 'ENOSYS');
  assert.equal(bad('{"cmd":"held","port":"x"}'), 'EINVAL');
  assert.deepEqual(errorReply(new NetmapError('EBUSY', 'busy')), { code: 'EBUSY', error: 'busy' });
  assert.deepEqual(errorReply(new TypeError('oops')), { code: 'EIO', error: 'internal error: oops' });
});
