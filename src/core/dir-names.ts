// The names in a directory, listed again only when the directory changed: a pass over the
// shared files (the metrics reader, many times a second under scrapes; reclaim passes) costs
// one stat(2) instead of a readdir(3) when no file was created or removed since the last one.
//
// A directory's mtime moves whenever an entry is added, removed or renamed. Its clock is
// coarse (a kernel tick, a few ms): a change in the same tick as the listing could leave the
// mtime as it was, so a listing is trusted only if it was made at least RACY_MS after the
// mtime it saw (git's "racily clean" rule); otherwise the next call lists again. Any error of
// stat falls back to listing (and a failed listing throws, as readdirSync does).
import { readdirSync, statSync } from 'node:fs';

/** A listing made within this much of the directory's mtime is not trusted. */
const RACY_MS = 50;

interface Listing { mtimeNs: bigint; ino: bigint; listedAtMs: number; names: readonly string[] }
const listings = new Map<string, Listing>();
/** How many times a directory was read (tests). */
export const dirReads = { count: 0 };

/** The sorted names in `dir` (the same array as last time when nothing changed). */
export function dirNames(dir: string): readonly string[] {
  let st: { mtimeNs: bigint; ino: bigint } | null = null;
  try { st = statSync(dir, { bigint: true }); } catch { st = null; }
  const had = listings.get(dir);
  if (st && had && had.mtimeNs === st.mtimeNs && had.ino === st.ino && had.listedAtMs - Number(st.mtimeNs / 1_000_000n) >= RACY_MS) return had.names;
  const listedAtMs = Date.now();
  dirReads.count++;
  const names = readdirSync(dir).sort();
  if (st) listings.set(dir, { mtimeNs: st.mtimeNs, ino: st.ino, listedAtMs, names });
  else listings.delete(dir);
  return names;
}
