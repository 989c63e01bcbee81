// `nmts demo`: the main job of the README. An embedded VALE switch, a pkt-gen receiver and a
// pkt-gen sender in worker threads; live rate lines, then both summaries.
import { runDemo } from '../apps/demo/demo.js';

const HELP = `usage: nmts demo [--seconds N] [--size BYTES] [--switch NAME]

Starts a VALE switch in this process, a pkt-gen receiver on NAME:rx and a pkt-gen sender on
NAME:tx, each in its own worker thread, and prints the rates every second. No root, no setup.
  --seconds N     how long the sender runs (10)
  --size BYTES    frame length without CRC, 60..1514 (60)
  --switch NAME   switch name (vale0)
`;

export async function demoCommand(argv: string[]): Promise<number> {
  let seconds = 10, size = 60, sw = 'vale0';
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i], v = argv[i + 1];
    const num = (min: number, max: number): number => {
      const n = Number(v);
      if (v === undefined || !Number.isFinite(n) || n < min || n > max) throw new Error(`nmts demo: ${a} needs a number in ${min}..${max}`);
      i++;
      return n;
    };
    if (a === '--help' || a === '-h') { process.stdout.write(HELP); return 0; }
    else if (a === '--seconds') seconds = num(1, 3600);
    else if (a === '--size') size = Math.floor(num(60, 1514));
    else if (a === '--switch') { if (!v || !/^vale[A-Za-z0-9_]*$/.test(v)) throw new Error('nmts demo: --switch needs a name like vale0'); sw = v; i++; }
    else { process.stderr.write(`nmts demo: unknown option ${a}\n${HELP}`); return 2; }
  }
  const r = await runDemo({ seconds, size, switchName: sw, out: (l) => process.stdout.write(l + '\n') });
  return r.ok ? 0 : 1;
}
