// The `nmts` command as a user runs it: a child process, exit codes, stdout and stderr.
// The tests run concurrently (each child has its own process region, so they cannot
// interfere): most of the time goes into starting Node processes and worker threads.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

// this file runs as dist/test/cli.test.js: the repository root is two levels up
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface Result { status: number | null; stdout: string; stderr: string }

/** Run `node bin/nmts.js ARGS` from the repository root (killed after 30 s). */
function nmts(...args: string[]): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/nmts.js', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
    let stdout = '', stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

async function rejected(args: string[], message: RegExp): Promise<void> {
  const r = await nmts('pkt-gen', ...args);
  assert.equal(r.status, 2, `nmts pkt-gen ${args.join(' ')}: exit ${r.status}\n${r.stderr}`);
  assert.match(r.stderr, message);
  assert.match(r.stderr, /nmts pkt-gen --help/);
  assert.equal(r.stdout, '');
}

describe('nmts', { concurrency: true }, () => {
  test('pkt-gen rejects bad flags with exit code 2 and names the flag', async () => {
    await Promise.all([
      rejected(['-i', 'vale0:1', '-Q'], /unknown option -Q/),
      rejected(['-i', 'vale0:1', '--bogus'], /unknown option --bogus/),
      rejected(['-i', 'vale0:1', '-f', 'tx', '-l', '5'], /invalid -l '5'/),
      rejected(['-i', 'vale0:1', '-f', 'foo'], /invalid -f 'foo': unknown function/),
      rejected(['-f', 'tx'], /missing -i PORT/),
      rejected(['-i', 'vale0:1', '-f', 'tx', '-b', '0'], /invalid -b '0'/),
      rejected(['-i', 'vale0:1', '-n'], /option -n requires an argument/),
      rejected(['-i', 'vale0:1', 'stray'], /unexpected argument 'stray'/),
      rejected(['-i', 'null', '-f', 'tx', '-n', '1', '-a', '4096'], /invalid -a|CPU/),
    ]);
  });

  test('pkt-gen -a pins its threads and says where with -v', async () => {
    const r = await nmts('pkt-gen', '-i', 'null', '-f', 'tx', '-n', '1000', '-a', '0', '-v');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /pinned: thread 0 on cpu 0/);
    assert.match(r.stdout, /^Sent 1000 packets/m);
  });

  test('pkt-gen --help exits 0 and lists the main flags', async () => {
    for (const flag of ['--help', '-h']) {
      const r = await nmts('pkt-gen', flag);
      assert.equal(r.status, 0, r.stderr);
      for (const f of ['-i port', '-f function', '-n count']) assert.ok(r.stdout.includes(f), `${flag}: no '${f}' in\n${r.stdout}`);
    }
  });

  test('nmts --help exits 0 and lists the commands; no command or an unknown one exits 2', async () => {
    const help = await nmts('--help');
    assert.equal(help.status, 0);
    assert.match(help.stdout, /^usage: nmts <command>/);
    assert.match(help.stdout, /pkt-gen/);
    assert.match(help.stdout, /demo/);
    const none = await nmts();
    assert.equal(none.status, 2);
    assert.match(none.stdout, /usage: nmts/);
    const unknown = await nmts('frobnicate');
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /unknown command 'frobnicate'/);
  });

  test('nmts version prints the package version', async () => {
    const r = await nmts('version');
    assert.equal(r.status, 0);
    assert.match(r.stdout, /^nmts \d+\.\d+\.\d+\n$/);
  });

  test('pkt-gen tx to the null port sends exactly -n packets', async () => {
    const r = await nmts('pkt-gen', '-i', 'null', '-f', 'tx', '-n', '1000');
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    // netmap's pkt-gen prints its header lines on stdout too, before the summary
    assert.match(lines[0]!, /^Sending on null: 1 queues, 1 threads/);
    assert.match(lines[1]!, /^10\.0\.0\.1 -> 10\.1\.0\.1 \(00:00:00:00:00:00 -> ff:ff:ff:ff:ff:ff\)$/);
    assert.match(lines[2]!, /^Sent 1000 packets 60000 bytes \d+ events 60 bytes each in \d+\.\d\d seconds\.$/);
    assert.match(lines[3]!, /^Speed: .*pps Bandwidth: .*bps \(raw .*bps\)\. Average batch: \d+\.\d\d pkts$/);
    assert.doesNotMatch(r.stderr, /Sending on/);
  });

  test('pkt-gen on a port that cannot be opened exits 2 with the reason', async () => {
    const r = await nmts('pkt-gen', '-i', 'vale0:1@conf:slots=3', '-f', 'tx', '-n', '1');
    assert.equal(r.status, 2);
    assert.match(r.stderr, /slots/);
  });

  test('nmts demo --seconds 2 runs and reports frames received', async () => {
    const r = await nmts('demo', '--seconds', '2');
    assert.equal(r.status, 0, r.stderr + r.stdout);
    const m = /summary: sent (\d+) frames, received (\d+)/.exec(r.stdout);
    assert.ok(m, r.stdout);
    assert.ok(Number(m[1]) > 0);
    assert.ok(Number(m[2]) > 0);
    assert.ok(Number(m[2]) <= Number(m[1]));
  });

  test('nmts demo rejects unknown options with exit code 2', async () => {
    const r = await nmts('demo', '--frob');
    assert.equal(r.status, 2);
    assert.match(r.stderr, /unknown option --frob/);
  });
});
