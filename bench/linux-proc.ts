// Child processes of the --linux cases: every peer tool, receiver and helper runs inside the
// benchmark's network namespace as
//
//   ip netns exec NS timeout --foreground -s INT -k 2 LIMIT COMMAND...
//
// * `ip netns exec` execs into `timeout`, so the pid we hold is timeout's;
// * spawned detached, timeout leads its own process group, so one kill(-pid) reaches the
//   command and whatever it forked (trafgen forks a worker per CPU);
// * `timeout` ends the command by itself after LIMIT seconds even if this process was killed
//   with SIGKILL and never cleaned up; --foreground makes it pass our SIGINT to the command
//   once (without it, timeout signals the command and then its whole group: two SIGINTs, and a
//   tool that handles only the first, like `nmts pkt-gen`, dies before printing its summary).
// Every live child is in `live`, which killAll() ends with SIGKILL (the exit and signal
// handlers of linux-ns.ts call it).
import { spawn, type ChildProcess } from 'node:child_process';

export interface Exit { code: number | null; signal: NodeJS.Signals | null }

export class Proc {
  private outText = '';
  private errText = '';
  readonly exited: Promise<Exit>;
  private done: Exit | null = null;

  constructor(readonly label: string, private readonly child: ChildProcess) {
    child.stdout?.setEncoding('utf8');
    child.stderr?.setEncoding('utf8');
    child.stdout?.on('data', (d: string) => { this.outText += d; });
    child.stderr?.on('data', (d: string) => { this.errText += d; });
    this.exited = new Promise((resolve) => {
      // 'close' (not 'exit'): the pipes are drained, so out()/err() are complete
      child.once('close', (code, signal) => {
        this.done = { code, signal };
        live.delete(this);
        resolve(this.done);
      });
      child.once('error', () => {
        this.done = { code: -1, signal: null };
        live.delete(this);
        resolve(this.done);
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }
  get running(): boolean {
    return this.done === null;
  }
  get exit(): Exit | null {
    return this.done;
  }
  out(): string {
    return this.outText;
  }
  err(): string {
    return this.errText;
  }
  /**
   * The last meaningful line of stderr (else stdout): what a failed tool said last. For a Node
   * program that threw, that is the error line, not the stack frames or the "Node.js vX" trailer.
   */
  lastWords(): string {
    const lines = (this.errText.trim() || this.outText.trim()).split('\n').map((l) => l.trim())
      .filter((l) => l && !/^at .+|^Node\.js v\d/.test(l));
    return lines.slice(-1)[0] ?? `${this.label} said nothing (exit ${this.done?.code ?? '?'}${this.done?.signal ? `, ${this.done.signal}` : ''})`;
  }

  /** Resolves when `re` matches stdout or stderr; rejects if the process ends first or after `ms`. */
  async waitFor(re: RegExp, ms: number): Promise<void> {
    const t0 = performance.now();
    while (!re.test(this.outText) && !re.test(this.errText)) {
      if (!this.running) throw new Error(`${this.label} ended before it was ready: ${this.lastWords()}`);
      if (performance.now() - t0 > ms) throw new Error(`${this.label} not ready after ${(ms / 1000).toFixed(1)} s: ${this.lastWords()}`);
      await sleep(20);
    }
  }

  /** SIGINT to the command (through timeout); SIGKILL to the group if it is still there after graceMs. */
  async stop(graceMs = 1000): Promise<Exit> {
    if (this.running) signal(this.child.pid, 'SIGINT', false);
    const t = setTimeout(() => this.kill(), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(t);
    }
  }

  /** SIGKILL to the whole process group, now (not once it is gone: its id may be reused). */
  kill(): void {
    if (this.running) signal(this.child.pid, 'SIGKILL', true);
  }
}

const live = new Set<Proc>();

function signal(pid: number | undefined, sig: NodeJS.Signals, group: boolean): void {
  if (!pid) return;
  try {
    process.kill(group ? -pid : pid, sig);
  } catch {
    // already gone
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export interface SpawnOptions {
  /** Seconds after which `timeout` ends the command on its own (a safety net; we normally stop it first). */
  limitS: number;
  env?: NodeJS.ProcessEnv;
  label?: string;
}

/** Run `argv` inside network namespace `ns` (see the file comment). */
export function spawnInNs(ns: string, argv: string[], o: SpawnOptions): Proc {
  const limit = Math.max(1, Math.ceil(o.limitS));
  const child = spawn('ip', ['netns', 'exec', ns, 'timeout', '--foreground', '-s', 'INT', '-k', '2', String(limit), ...argv], {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: o.env ?? process.env,
  });
  const p = new Proc(o.label ?? argv[0]!, child);
  live.add(p);
  return p;
}

/** SIGKILL every child still running (synchronous: safe in an 'exit' handler). */
export function killAll(): void {
  for (const p of live) p.kill();
  live.clear();
}
