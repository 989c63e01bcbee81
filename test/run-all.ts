// `npm test`: node's test runner over dist/test/*.test.js (TAP, one file at a time), passed
// through unchanged, and before node's closing summary one line listing what was skipped and
// why, grouped: "skipped: 12 tests (missing: tcpdump — apt-get install tcpdump; needs root)".
// The summary (# tests ... # duration_ms) stays the last lines, so .ci/run's grep of
// "# skipped N" still works. The exit code is node's.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const files = args.length ? args : readdirSync(here).filter((f) => f.endsWith('.test.js')).sort().map((f) => join(here, f));
const child = spawn(process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=tap', ...files], { stdio: ['ignore', 'pipe', 'inherit'] });

const SUMMARY = /^# (tests|suites|pass|fail|cancelled|skipped|todo|duration_ms) /;
const held: string[] = [];
const reasons = new Map<string, number>();
let skipped = 0;
const rl = createInterface({ input: child.stdout! });
rl.on('line', (line) => {
  if (SUMMARY.test(line)) {
    held.push(line);
    const m = /^# skipped (\d+)/.exec(line);
    if (m) skipped = Number(m[1]);
    return;
  }
  for (const l of held.splice(0)) process.stdout.write(l + '\n'); // not the final summary after all
  const s = /^\s*(?:not )?ok \d+ - .*# SKIP ?(.*)$/.exec(line);
  if (s) reasons.set(s[1] || 'no reason given', (reasons.get(s[1] || 'no reason given') ?? 0) + 1);
  process.stdout.write(line + '\n');
});

/** "needs tcpdump (apt-get install tcpdump)" -> "tcpdump — apt-get install tcpdump"; others as they are. */
function short(reason: string): string {
  const m = /^needs (\S+) \((apt-get install [^)]+)\)/.exec(reason);
  if (m) return `${m[1]} — ${m[2]}`;
  const r = /^needs root\b/.exec(reason);
  return r ? 'root (run as root)' : reason;
}

const exited = new Promise<number>((r) => child.on('exit', (code, signal) => r(code ?? (signal ? 1 : 0))));
const read = new Promise<void>((r) => rl.on('close', () => r()));
void Promise.all([exited, read]).then(([code]) => {
  if (skipped > 0 || reasons.size > 0) {
    const kinds = [...new Set([...reasons.keys()].map(short))];
    process.stdout.write(`# skipped: ${skipped} tests (missing: ${kinds.join('; ')})\n`);
  }
  for (const l of held) process.stdout.write(l + '\n');
  process.exitCode = code;
});
