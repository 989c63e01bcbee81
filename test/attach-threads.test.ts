// The daemon's forwarder threads: by default one thread serves every attachment of a switch
// (a frame from one attached interface to another crosses in one round of one thread),
// NMTS_ATTACH_THREADS=interface gives each its own; either way an attachment whose interface
// goes away ends alone and the others keep forwarding. Root only (network namespace, veth);
// skipped otherwise with the reason.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { attachThreads } from '../src/apps/vale-attach/vale-attach.js';
import { Netns } from './fixtures/netif-helpers.js';
import { needs } from './fixtures/requires.js';

const skip = needs(['root', 'ip']);
const FIXTURE = fileURLToPath(new URL('./fixtures/attach-threads.js', import.meta.url));

test('NMTS_ATTACH_THREADS: switch (the default) or interface; anything else is refused with the choices', () => {
  assert.equal(attachThreads({}), 'switch');
  assert.equal(attachThreads({ NMTS_ATTACH_THREADS: 'switch' }), 'switch');
  assert.equal(attachThreads({ NMTS_ATTACH_THREADS: 'interface' }), 'interface');
  assert.throws(() => attachThreads({ NMTS_ATTACH_THREADS: 'core' }), /NMTS_ATTACH_THREADS=core: expected 'switch'.*or 'interface'/);
});

describe('attachments and their forwarder threads', { skip }, () => {
  for (const mode of ['switch', 'interface'] as const) {
    test(`${mode}: ${mode === 'switch' ? 'one thread for both attachments' : 'a thread each'}; frames cross the switch; one interface deleted ends its attachment only`, { timeout: 90_000 }, () => {
      const ns = new Netns(`att${mode[0]}`);
      try {
        ns.create([['ata', 'atb'], ['atc', 'atd']]);
        const out = ns.run(process.execPath, [FIXTURE, `valeat${process.pid % 10000}`], { env: { ...process.env, NMTS_SHARED: '1', NMTS_ATTACH_THREADS: mode } });
        const r = JSON.parse(out.trim().split('\n').pop()!) as {
          warm: boolean; threads: number[]; listed: { port: string; thread: number; sharedWith: string[] }[]; throughSwitch: number; failed: boolean;
          left: string[]; afterFailure: number; detached: string[]; logs: string[]; list: unknown[];
        };
        const sw = `valeat${process.pid % 10000}`;
        if (mode === 'switch') {
          assert.equal(r.threads[0], r.threads[1], 'one thread');
          assert.deepEqual(r.listed.map((l) => l.sharedWith), [[`${sw}:atc`], [`${sw}:ata`]], 'each lists the other as served by its thread');
        } else {
          assert.notEqual(r.threads[0], r.threads[1], 'a thread each');
          assert.deepEqual(r.listed.map((l) => l.sharedWith), [[], []]);
        }
        assert.ok(r.warm, `frames never got from atb through the switch to atd: ${r.logs.join('\n')}`);
        assert.ok(r.throughSwitch >= 2000, `2000 frames sent into atb, ${r.throughSwitch} left atd; ${JSON.stringify(r)}`);
        assert.ok(r.failed, `atc's attachment failed with ENXIO: ${r.logs.join('\n')}`);
        assert.deepEqual(r.left, [`${sw}:ata`], 'only atc went');
        assert.ok(r.afterFailure >= 1000, `ata still forwards: ${r.afterFailure} of 1000; ${JSON.stringify(r)}`);
        assert.deepEqual(r.detached, [`${sw}:ata`]);
        assert.deepEqual(r.list, []);
      } finally {
        ns.destroy();
      }
    });
  }
});
