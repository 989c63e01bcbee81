// `nmts replay`: parse tcpreplay's flags, replay, print tcpreplay's statistics block.
// Exit codes: 0 done, 1 runtime error (port, file), 2 usage error. SIGINT/SIGTERM stop
// the replay and still print the statistics.
import { parseReplayArgs, replay, replayUsage, ReplayUsageError, statsBlock } from '../apps/replay/replay.js';
import { ProgressLine } from '../apps/common/progress.js';
import { parseOr, withStopSignal } from './tool.js';

export async function replayCommand(argv: string[]): Promise<number> {
  const opts = parseOr('replay', argv, parseReplayArgs, ReplayUsageError);
  if (typeof opts === 'number') return opts;
  if (opts.help) {
    process.stdout.write(replayUsage());
    return 0;
  }
  // the status line: on a terminal unless -q (or --no-progress); --progress forces it
  const progress = ProgressLine.stderr(opts.quiet && opts.progress === 'auto' ? 'off' : opts.progress, opts.progressSec * 1000);
  // lines to stdout and stderr erase the status line first when it shares their terminal
  const out = (l: string): void => { if (process.stdout.isTTY) progress.lineOn(process.stdout, l); else process.stdout.write(l + '\n'); };
  const err = (l: string): void => { progress.line(l); };
  return withStopSignal(async (signal) => {
    try {
      const r = await replay(opts, { out, err, signal, progress }).finally(() => progress.clear());
      // tcpreplay prints the block only when something was sent
      if (r.bytes > 0 || r.failed > 0) process.stdout.write(statsBlock(r).join('\n') + '\n');
      if (r.error) {
        process.stderr.write(`nmts replay: ${r.error.message}\n`);
        return 1;
      }
      return 0;
    } catch (e) {
      process.stderr.write(`nmts replay: ${(e as Error).message}\n`);
      return e instanceof ReplayUsageError ? 2 : 1;
    }
  });
}
