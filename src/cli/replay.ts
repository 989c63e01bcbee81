// `nmts replay`: parse tcpreplay's flags, replay, print tcpreplay's statistics block.
// Exit codes: 0 done, 1 runtime error (port, file), 2 usage error. SIGINT/SIGTERM stop
// the replay and still print the statistics.
import { parseReplayArgs, replay, replayUsage, ReplayUsageError, statsBlock } from '../apps/replay.js';

export async function replayCommand(argv: string[]): Promise<number> {
  let opts;
  try {
    opts = parseReplayArgs(argv);
  } catch (e) {
    if (e instanceof ReplayUsageError) {
      process.stderr.write(`${e.message}\nTry 'nmts replay --help'.\n`);
      return 2;
    }
    throw e;
  }
  if (opts.help) {
    process.stdout.write(replayUsage());
    return 0;
  }
  const ac = new AbortController();
  const onSig = (): void => ac.abort();
  process.once('SIGINT', onSig);
  process.once('SIGTERM', onSig);
  try {
    const r = await replay(opts, {
      out: (l) => process.stdout.write(l + '\n'),
      err: (l) => process.stderr.write(l + '\n'),
      signal: ac.signal,
    });
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
  } finally {
    process.off('SIGINT', onSig);
    process.off('SIGTERM', onSig);
  }
}
