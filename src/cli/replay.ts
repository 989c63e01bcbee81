// `nmts replay`: parse tcpreplay's flags, replay, print tcpreplay's statistics block.
// Exit codes: 0 done, 1 runtime error (port, file), 2 usage error. SIGINT/SIGTERM stop
// the replay and still print the statistics.
import { parseReplayArgs, replay, replayUsage, ReplayUsageError, statsBlock } from '../apps/replay/replay.js';
import { parseOr, stderrLine, stdoutLine, withStopSignal } from './tool.js';

export async function replayCommand(argv: string[]): Promise<number> {
  const opts = parseOr('replay', argv, parseReplayArgs, ReplayUsageError);
  if (typeof opts === 'number') return opts;
  if (opts.help) {
    process.stdout.write(replayUsage());
    return 0;
  }
  return withStopSignal(async (signal) => {
    try {
      const r = await replay(opts, { out: stdoutLine, err: stderrLine, signal });
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
