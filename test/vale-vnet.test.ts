// A VALE port's virtio-net header length (@conf:vnet=N, OpenOptions.vnetHdrLen; netmap's
// PORT_HDR_SET/GET): kept in the port record, seen by every opener, changed only while no one
// has the port open, refused on other port kinds, shown by vale-ctl -g; a record holding another
// value (a planted file) reads as invalid, never as a length.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { open, NetmapError } from '../src/index.js';
import { ValePort } from '../src/vale/vale-port.js';
import { PR } from '../src/core/layout.js';
import { valeCtl } from '../src/apps/vale-ctl/vale-ctl.js';
import { pktGen } from '../src/apps/pkt-gen/run.js';
import { parsePktGenArgs } from '../src/apps/pkt-gen/options.js';

const ID = process.pid;

function code(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof NetmapError) return e.code;
    throw e;
  }
  return 'no error';
}

describe('VALE port header length', () => {
  test('set at creation, seen by later openers, shown by vale-ctl -g', () => {
    const S = `valevnet${ID}`;
    const a = open(`${S}:a@conf:vnet=12`) as ValePort;
    const a2 = open(`${S}:a`) as ValePort;
    const b = open(`${S}:b`) as ValePort;
    try {
      assert.equal(a.vnetHdrLen, 12);
      assert.equal(a2.vnetHdrLen, 12, 'another opener sees it');
      assert.equal(b.vnetHdrLen, 0, 'the default is none');
      assert.equal(open(`${S}:a@conf:vnet=12`).close(), undefined, 'the same length again is fine');
      assert.equal(code(() => open(`${S}:a`, { vnetHdrLen: 10 })), 'EBUSY', 'no change while others have it open');
      const g = valeCtl(['-g', `${S}:a`]);
      assert.equal(g.status, 0, g.stderr);
      assert.match(g.stdout, /\nmem_id: +\d+\nhdr_len:    12\n$/);
      assert.doesNotMatch(valeCtl(['-g', `${S}:b`]).stdout, /hdr_len/, 'netmap\'s lines only when there is no header');
      assert.match(valeCtl(['-v', '-g', `${S}:b`]).stdout, /^hdr_len: +0$/m);
    } finally {
      a.close();
      a2.close();
      b.close();
    }
  });

  test('changed by an open when no one else has the port', () => {
    const S = `valevnet${ID}c`;
    const keep = open(`${S}:keep`); // keeps the switch
    const a = open(`${S}:a@conf:vnet=10`) as ValePort;
    try {
      assert.equal(a.vnetHdrLen, 10);
    } finally {
      a.close();
    }
    const again = open(`${S}:a`, { vnetHdrLen: 12 }) as ValePort;
    try {
      assert.equal(again.vnetHdrLen, 12, 'a fresh port after the last close');
    } finally {
      again.close();
      keep.close();
    }
  });

  test('other port kinds: only 0', () => {
    assert.equal(code(() => open(`vnetpipe${ID}{1@conf:vnet=10`)), 'ENOTSUP');
    assert.equal(code(() => open('null', { vnetHdrLen: 12 })), 'ENOTSUP');
    // (netmap:IF@conf:vnet=N opens an interface with the header: docs/interfaces.md)
    assert.equal(code(() => open('null', { vnetHdrLen: 11 as 10 })), 'EINVAL');
    const p = open(`vnetpipe${ID}{1@conf:vnet=0`);
    p.close();
  });

  test('a record holding another value reads as invalid', () => {
    const S = `valevnet${ID}p`;
    const a = open(`${S}:a`) as ValePort;
    try {
      a.region.u32[(a.rec + PR.vnetHdrLen) >> 2] = 7; // as a planted file could
      assert.equal(a.vnetHdrLen, -1);
      assert.match(valeCtl(['-g', `${S}:a`]).stdout, /^hdr_len: +invalid/m);
    } finally {
      a.close();
    }
  });

  test('pkt-gen -H sets the header length of its VALE port', async () => {
    const S = `valevnet${ID}g`;
    const held = open(`${S}:tx@conf:vnet=12`) as ValePort; // pkt-gen opens it after us
    try {
      const io = { out: (): void => {}, err: (): void => {} };
      const run = (h: string): Promise<unknown> => pktGen(parsePktGenArgs(['-i', `${S}:tx`, '-f', 'tx', '-n', '10', '-H', h]), io);
      await assert.rejects(run('10'), /EBUSY|header length/, 'pkt-gen -H 10 asks for 10 bytes, the port has 12 and is open');
      const r = await run('12') as { packets: number };
      assert.equal(r.packets, 10);
      assert.equal(held.vnetHdrLen, 12);
    } finally {
      held.close();
    }
  });
});
