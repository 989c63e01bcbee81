// `nmts lb`: netmap's lb command line.
import { createLoadBalancer, DEF_BATCH, DEF_OUT_PIPES, lbProgressLine, type LbCounters, type LbGroup, type LoadBalancer } from '../apps/lb/lb.js';
import { ProgressLine, progressFlag, type ProgressMode } from '../apps/common/progress.js';
import { linkWait } from '../apps/common/link-wait.js';
import { PortSpecError } from '../core/portspec.js';
import { NetmapError } from '../core/region.js';

const USAGE = `usage: nmts lb -i PORT [-p [name:]N]... [-B extra_bufs] [-b batch] [-w wait] [-W] [-s sec] [-o sec] [--[no-]progress]

Load balancer: reads PORT, hashes every packet with a symmetric RSS (Toeplitz) hash of its
addresses and ports, and moves it without copying to output pipe hash % N of each group, so
both directions of a flow reach the same reader. lb opens the master ends NAME{i; readers
open NAME}i (for -i vale0:1: vale0:1}0, vale0:1}1, ...).
  -i PORT        input: a VALE port valeX:Y, or a pipe end x}K (then pipes x{K_i, read as x}K_i)
  -p [name:]N    a group of N output pipes (default: one group of ${DEF_OUT_PIPES} named after the input).
                 Several -p: each group receives every packet, in turn (readers of all but the
                 last group must not modify the buffers). A bare name with a VALE input means
                 valeX:name (same memory region: zero-copy)
  -B N           extra buffers for per-pipe overflow queues (0: drop when a pipe is full)
  -b N           batch: packets taken from the input per round (${DEF_BATCH})
  -w SEC         seconds to wait after opening, before forwarding (default: netmap's 2 when
                 the input is an interface netmap:IF, 0 for VALE ports and pipes)
  -W             busy-wait (burns a core)
  -o SEC         every SEC seconds print lb's JSON statistics lines to stdout
  -s SEC         every SEC seconds print them to stderr (netmap's lb: syslog)
  --progress     a status line on stderr, every second: rates in, out and dropped, totals,
                 queued and free buffers (by default only when stderr is a terminal;
                 with this option also to a file or pipe, one line a second)
  --no-progress  no status line
Stop with Ctrl-C: prints 'N packets forwarded.  M packets dropped. Total T'.
`;

/** netmap's lb waits 2 s for the input's link. */
export const LB_LINK_WAIT = 2;

export async function lbCommand(argv: string[]): Promise<number> {
  let input: string | undefined;
  const groups: LbGroup[] = [];
  let extraBufs = 0, batch = DEF_BATCH, busyWait = false, stdoutSec = 0, stderrSec = 0;
  let waitGiven: number | undefined;
  let progressMode: ProgressMode = 'auto';
  const fail = (m: string): number => { process.stderr.write(`lb: ${m}\n${USAGE}`); return 2; };
  const int = (v: string | undefined, min: number): number | null => {
    if (v === undefined || !/^\d+$/.test(v)) return null;
    const n = Number(v);
    return Number.isSafeInteger(n) && n >= min ? n : null;
  };
  const seconds = (v: string | undefined): number | null => {
    if (v === undefined || !/^\d+(\.\d+)?$/.test(v)) return null;
    return Number(v);
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-h' || a === '--help') { process.stdout.write(USAGE); return 0; }
    const pm = progressFlag(a);
    if (pm !== null) { progressMode = pm; continue; }
    if (!/^-[ipBbwWso]/.test(a)) return fail(a.startsWith('-') ? `unknown option ${a}` : `unexpected argument '${a}'`);
    const opt = a[1];
    if (opt === 'W') { if (a.length > 2) return fail(`unknown option ${a}`); busyWait = true; continue; }
    const v = a.length > 2 ? a.slice(2) : argv[++i];
    if (v === undefined) return fail(`option -${opt} requires a value`);
    switch (opt) {
      case 'i': input = v; break;
      case 'p': {
        const colon = v.lastIndexOf(':');
        const name = colon >= 0 ? v.slice(0, colon) : undefined;
        const num = colon >= 0 ? v.slice(colon + 1) : v;
        if (name === '') return fail(`missing prefix before ':' in '${v}'`);
        const count = num === '' ? DEF_OUT_PIPES : int(num, 1);
        if (count === null) return fail(`invalid number of pipes '${num}' (must be at least 1)`);
        groups.push(name === undefined ? { count } : { name, count });
        break;
      }
      case 'B': { const n = int(v, 0); if (n === null) return fail(`invalid -B '${v}': a number of buffers`); extraBufs = n; break; }
      case 'b': { const n = int(v, 1); if (n === null) return fail(`invalid -b '${v}': batch must be at least 1`); batch = n; break; }
      case 'w': { const n = seconds(v); if (n === null) return fail(`invalid -w '${v}': seconds`); waitGiven = n; break; }
      case 'o': { const n = seconds(v); if (n === null) return fail(`invalid -o '${v}': seconds`); stdoutSec = n; break; }
      case 's': { const n = seconds(v); if (n === null) return fail(`invalid -s '${v}': seconds`); stderrSec = n; break; }
    }
  }
  if (input === undefined) return fail('missing interface name (-i PORT)');
  const wait = linkWait(waitGiven, [input], LB_LINK_WAIT);
  let lb: LoadBalancer;
  try {
    lb = createLoadBalancer({ input, groups: groups.length ? groups : undefined, extraBufs, batch, busyWait });
  } catch (e) {
    process.stderr.write(`lb: ${(e as Error).message}\n`);
    return e instanceof PortSpecError ? 2 : 1;
  }
  for (const p of lb.pipes) process.stderr.write(`lb: opened pipe ${p.interface} (group ${p.group}): read it as ${p.consumer}\n`);
  // the status line, from its own once-a-second timer reading lb's counters (the forwarding
  // loop yields to timers; nothing is added to it)
  const progress = ProgressLine.stderr(progressMode);
  let progressTimer: NodeJS.Timeout | null = null;
  const ac = new AbortController();
  const stop = (): void => ac.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    if (wait > 0) {
      await new Promise<void>((r) => {
        const t = setTimeout(r, wait * 1000);
        ac.signal.addEventListener('abort', () => { clearTimeout(t); r(); }, { once: true });
      });
    }
    // one timer at the shorter interval; each destination gets its own multiples
    const intervals = [stdoutSec, stderrSec].filter((s) => s > 0);
    const tick = intervals.length ? Math.min(...intervals) : 0;
    let accOut = 0, accErr = 0;
    if (progress.enabled) {
      const t0 = performance.now();
      let prev: LbCounters = lb.counters();
      progressTimer = setInterval(() => {
        const cur = lb.counters();
        progress.update(lbProgressLine(cur, prev, (performance.now() - t0) / 1000));
        prev = cur;
      }, 1000);
    }
    await lb.run({
      signal: ac.signal,
      statsMs: tick * 1000,
      onStats: (lines) => {
        const text = lines.join('\n') + '\n';
        if (stdoutSec > 0 && (accOut += tick) + 1e-9 >= stdoutSec) {
          accOut = 0;
          if (process.stdout.isTTY) progress.lineOn(process.stdout, text.slice(0, -1)); else process.stdout.write(text);
        }
        if (stderrSec > 0 && (accErr += tick) + 1e-9 >= stderrSec) { accErr = 0; progress.line(text.slice(0, -1)); }
      },
    });
    if (progressTimer) clearInterval(progressTimer);
    progress.clear();
    process.stdout.write(lb.exitLine() + '\n');
    return 0;
  } catch (e) {
    lb.close();
    progress.clear();
    process.stderr.write(`lb: ${(e as Error).message}\n`);
    return e instanceof NetmapError ? 1 : 2;
  } finally {
    if (progressTimer) clearInterval(progressTimer);
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}
