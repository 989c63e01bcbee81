// `nmts replay`: parse tcpreplay's flags, replay, print tcpreplay's statistics block.
// Exit codes: 0 done, 1 runtime error (port, file), 2 usage error. SIGINT/SIGTERM stop
// the replay and still print the statistics. -o reads its answers from the terminal on
// stdin (refused when stdin is not one); --listnics lists interfaces and exits.
import { createInterface } from 'node:readline';
import { parseReplayArgs, replay, replayUsage, ReplayUsageError, statsBlock } from '../apps/replay/replay.js';
import { listNics } from '../apps/replay/listnics.js';
import { ProgressLine } from '../apps/common/progress.js';
import { parseOr, withStopSignal } from './tool.js';

export async function replayCommand(argv: string[]): Promise<number> {
  const opts = parseOr('replay', argv, parseReplayArgs, ReplayUsageError);
  if (typeof opts === 'number') return opts;
  if (opts.help) {
    process.stdout.write(replayUsage());
    return 0;
  }
  if (opts.listnics) {
    process.stdout.write(listNics().join('\n') + '\n');
    return 0;
  }
  if (opts.oneAtATime && !process.stdin.isTTY) {
    process.stderr.write('nmts replay: -o/--oneatatime reads the number of packets to send from a terminal: stdin is not one\n');
    return 2;
  }
  // the status line: on a terminal unless -q (or --no-progress); --progress forces it
  const progress = ProgressLine.stderr(opts.quiet && opts.progress === 'auto' ? 'off' : opts.oneAtATime ? 'off' : opts.progress, opts.progressSec * 1000);
  // lines to stdout and stderr erase the status line first when it shares their terminal
  const out = (l: string): void => { if (process.stdout.isTTY) progress.lineOn(process.stdout, l); else process.stdout.write(l + '\n'); };
  const err = (l: string): void => { progress.line(l); };
  const rl = opts.oneAtATime ? createInterface({ input: process.stdin, terminal: false }) : null;
  const lines: string[] = [];
  const waiting: Array<(l: string | null) => void> = [];
  let closed = false;
  rl?.on('line', (l) => { const w = waiting.shift(); if (w) w(l); else lines.push(l); });
  rl?.on('close', () => { closed = true; for (const w of waiting.splice(0)) w(null); });
  const ask = (prompt: string): Promise<string | null> => {
    process.stdout.write(prompt);
    if (lines.length > 0) return Promise.resolve(lines.shift()!);
    if (closed) return Promise.resolve(null);
    return new Promise((r) => waiting.push(r));
  };
  return withStopSignal(async (signal) => {
    signal.addEventListener('abort', () => rl?.close());
    try {
      const r = await replay(opts, { out, err, signal, progress, ask }).finally(() => { progress.clear(); rl?.close(); });
      // tcpreplay prints the block only when something was sent
      if (r.bytes > 0 || r.failed > 0) process.stdout.write(statsBlock(r).join('\n') + '\n');
      if (r.skipped > 0 && !opts.quiet) {
        process.stderr.write(`nmts replay: ${r.skipped} packets not sent by choice (${opts.cachefile ? "the cache file's \"don't send\"" : '--include/--exclude'})\n`);
      }
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
