// `nmts tlem`: netmap's tlem link emulator between two ports. Usage errors exit 2.
import { tlem, tlemSummary } from '../apps/tlem/tlem.js';
import { parseTlemArgs, resolveTlemWait, TLEM_USAGE, TlemUsageError } from '../apps/tlem/options.js';
import { NetmapError } from '../core/region.js';
import { parseOr, stderrLine, withStopSignal } from './tool.js';

export async function tlemCommand(argv: string[]): Promise<number> {
  const o = parseOr('tlem', argv, parseTlemArgs, TlemUsageError, 'tlem: ');
  if (typeof o === 'number') return o;
  if (o.help) { process.stdout.write(TLEM_USAGE); return 0; }
  return withStopSignal(async (signal) => {
    try {
      const r = await tlem({
        a: o.a, b: o.b, dirs: o.dirs, batch: o.batch, seed: o.seed, durationSec: o.durationSec,
        signal, statsMs: o.quiet ? 0 : 1000, verbose: o.verbose, waitSec: resolveTlemWait(o),
      }, { log: stderrLine });
      process.stdout.write(tlemSummary(o.a, o.b, r) + '\n');
      return 0;
    } catch (e) {
      process.stderr.write(`tlem: ${(e as Error).message}\n`);
      return e instanceof NetmapError ? 1 : 2;
    }
  });
}
