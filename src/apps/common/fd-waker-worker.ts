// The waker thread of fd-waker.ts: while armed, poll(2) on the sockets; when one is ready,
// disarm and wake the forwarder through its futex word. It maps only the page of the shared
// file that holds the word, and unmaps it before it says it is done.
import { workerData } from 'node:worker_threads';
import { POLLIN } from '../../core/constants.js';
import { close, futexWake, O_RDWR, open } from '../../sys/libc.js';
import { mmap, munmap, PollSet } from '../../sys/net.js';
import { W } from './fd-waker.js';

const input = workerData as { fds: number[]; path: string; wordOfs: number; ctrl: SharedArrayBuffer };
const ctrl = new Int32Array(input.ctrl);

try {
  const page = input.wordOfs - (input.wordOfs % 4096);
  const fd = open(input.path, O_RDWR);
  let m;
  try {
    m = mmap(fd, 4096, page, 'wake-up word');
  } finally {
    close(fd);
  }
  try {
    const word = new Int32Array(m.buffer);
    const idx = (input.wordOfs - page) >> 2;
    const addr = m.addr + BigInt(input.wordOfs - page);
    const set = new PollSet(input.fds, POLLIN);
    while (Atomics.load(ctrl, W.stop) === 0) {
      if (Atomics.load(ctrl, W.armed) === 0) {
        Atomics.wait(ctrl, W.armed, 0, 1000);
        continue;
      }
      // short polls: a stop request is seen within 100 ms
      if (set.poll(100) > 0 && Atomics.compareExchange(ctrl, W.armed, 1, 0) === 1) {
        Atomics.add(word, idx, 1);
        futexWake(addr, 0x7fffffff);
        Atomics.add(ctrl, W.wakes, 1);
      }
    }
  } finally {
    munmap(m.addr, 4096);
  }
} finally {
  Atomics.store(ctrl, W.done, 1);
  Atomics.notify(ctrl, W.done);
}
