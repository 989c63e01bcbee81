// The process-wide memory region. Every worker thread must see the same switches and
// pipes, so the region's SharedArrayBuffer is published with setEnvironmentData: workers
// started after netmap-ts was first imported receive it automatically, with no plumbing by
// the user. The buffer is reserved lazily by the OS, so a large default costs only the
// pages that rings and buffers actually touch.
import { getEnvironmentData, isMainThread, setEnvironmentData } from 'node:worker_threads';
import { NetmapError, Region } from './region.js';

const ENV_KEY = 'netmap-ts:region:v1';
const DEFAULT_SIZE = 1 << 30;

let current: Region | null = null;

/** Parse sizes such as "512m", "2g", "1048576". */
export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmg]?)i?b?\s*$/i.exec(text);
  if (!m) throw new NetmapError('EINVAL', `invalid size "${text}" (examples: 512m, 2g)`);
  const mult = { '': 1, k: 1024, m: 1 << 20, g: 1 << 30 }[m[2].toLowerCase() as '' | 'k' | 'm' | 'g'];
  return Math.floor(Number(m[1]) * mult);
}

function regionSize(): number {
  const env = process.env.NMTS_MEMORY;
  if (!env) return DEFAULT_SIZE;
  const n = parseSize(env);
  if (n < 8 << 20 || n > 4095 * (1 << 20)) throw new NetmapError('EINVAL', `NMTS_MEMORY=${env}: must be between 8m and 4095m`);
  return n;
}

/** The region shared by all threads of this process (created on first use). */
export function processRegion(): Region {
  if (current) return current;
  const shared = getEnvironmentData(ENV_KEY);
  if (shared instanceof SharedArrayBuffer) {
    current = Region.attach(shared);
  } else {
    const size = regionSize();
    const sab = new SharedArrayBuffer(size);
    current = Region.format(sab, { size, memId: 1 });
    setEnvironmentData(ENV_KEY, sab);
  }
  return current;
}

// Publish the region as soon as netmap-ts is imported on the main thread: a Worker copies
// the environment data when it is constructed, so a worker started before the first open()
// would otherwise create a private region and never see the main thread's ports. (Workers
// do not create one eagerly: they inherit it, or get it later through adoptRegion.) A bad
// NMTS_MEMORY is reported by the first open() instead of by the import.
if (isMainThread && !(getEnvironmentData(ENV_KEY) instanceof SharedArrayBuffer)) {
  try { processRegion(); } catch { /* reported again by processRegion() at first use */ }
}

/** Pass this to a Worker's `workerData` if it was started before netmap-ts was imported. */
export function regionHandle(): SharedArrayBuffer {
  return processRegion().buffer as SharedArrayBuffer;
}

/** Adopt a region handle received from another thread (see regionHandle). */
export function adoptRegion(handle: SharedArrayBuffer): Region {
  if (current && current.buffer === handle) return current;
  if (current && !isMainThread) throw new NetmapError('EBUSY', 'this thread already uses another netmap-ts region');
  current = Region.attach(handle);
  setEnvironmentData(ENV_KEY, handle);
  return current;
}
