// src/sys/unix.ts: descriptors passed over a Unix socket (SCM_RIGHTS) arrive as working
// descriptors, a memfd mapped MAP_SHARED on both sides is one memory, eventfds count.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { close, ftruncate, munmap, SysError } from '../src/sys/libc.js';
import { eventfd, eventfdConsume, eventfdSignal, memfdCreate, mmapFd, recvWithFds, sendWithFds, unixAccept, unixConnect, unixListen } from '../src/sys/unix.js';

function pair(): { dir: string; l: number; c: number; s: number } {
  const dir = mkdtempSync(join(tmpdir(), 'nmts-unix-'));
  const l = unixListen(join(dir, 'sock'));
  const c = unixConnect(join(dir, 'sock'));
  const s = unixAccept(l);
  assert.ok(s >= 0);
  return { dir, l, c, s };
}

test('SCM_RIGHTS: a memfd and an eventfd sent with a message arrive usable; the memfd maps to the same memory', () => {
  const { dir, l, c, s } = pair();
  try {
    assert.equal(recvWithFds(s, 16).bytes, -1, 'nothing waiting: -1 (EAGAIN), not a throw');
    const mfd = memfdCreate('t');
    ftruncate(mfd, 1 << 20);
    const efd = eventfd();
    sendWithFds(c, Buffer.from('hello'), [mfd, efd]);
    const r = recvWithFds(s, 64);
    assert.equal(r.bytes, 5);
    assert.equal(r.data.toString(), 'hello');
    assert.equal(r.fds.length, 2);
    assert.ok(!r.fds.includes(mfd) && !r.fds.includes(efd), 'new descriptor numbers');
    const a = mmapFd(mfd, 1 << 20, 0, 'a'), b = mmapFd(r.fds[0], 4096, 4096, 'b');
    new Uint8Array(a.buffer)[4096 + 7] = 0x5a;
    assert.equal(new Uint8Array(b.buffer)[7], 0x5a, 'offset mapping of the received fd sees the same page');
    assert.equal(eventfdConsume(r.fds[1]), 0);
    eventfdSignal(efd); eventfdSignal(efd);
    assert.equal(eventfdConsume(r.fds[1]), 2, 'the received eventfd is the same counter');
    assert.equal(eventfdConsume(r.fds[1]), 0);
    munmap(a.addr, 1 << 20); munmap(b.addr, 4096);
    for (const fd of [mfd, efd, ...r.fds]) close(fd);
    close(c);
    assert.equal(recvWithFds(s, 16).bytes, 0, 'peer closed: 0');
    assert.throws(() => mmapFd(-1, 4096, 100, 'bad'), SysError, 'unaligned offset refused');
  } finally {
    close(s); close(l);
    rmSync(dir, { recursive: true, force: true });
  }
});
