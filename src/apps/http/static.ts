// The dashboard's files, served by the HTTP server at / (server.ts): the page, its script and
// style from src/apps/http/dashboard/ (plain files, served from the source tree, which the
// package ships: package.json "files"), and uPlot's from its npm package. Nothing comes from
// the network at run time. Files are read once, at the first request for each, and kept (a few
// tens of KiB); a file that is missing answers 500 naming it.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** Where the page's own files are: src/apps/http/dashboard, from dist/src/apps/http or src/apps/http. */
function dashboardDir(): string {
  const here = fileURLToPath(new URL('.', import.meta.url));
  return /[\\/]dist[\\/]src[\\/]apps[\\/]http[\\/]$/.test(here)
    ? fileURLToPath(new URL('../../../../src/apps/http/dashboard/', import.meta.url))
    : fileURLToPath(new URL('./dashboard/', import.meta.url));
}

const require = createRequire(import.meta.url);

interface StaticFile {
  type: string;
  /** The file's path (resolved at the first request). */
  path: () => string;
}

const TYPES = { html: 'text/html; charset=utf-8', js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8' };
const own = (name: string, type: string): StaticFile => ({ type, path: () => dashboardDir() + name });
const uplot = (name: string, type: string): StaticFile => ({ type, path: () => require.resolve(`uplot/dist/${name}`) });

/** URL path -> file. */
export const STATIC_FILES: Readonly<Record<string, StaticFile>> = {
  '/': own('index.html', TYPES.html),
  '/index.html': own('index.html', TYPES.html),
  '/dashboard.js': own('dashboard.js', TYPES.js),
  '/dashboard.css': own('dashboard.css', TYPES.css),
  '/vendor/uPlot.iife.min.js': uplot('uPlot.iife.min.js', TYPES.js),
  '/vendor/uPlot.min.css': uplot('uPlot.min.css', TYPES.css),
};

const cache = new Map<string, Buffer>();

/** The body and type of a static path, or null if it is not one; throws if its file is missing. */
export function staticFile(path: string): { body: Buffer; type: string } | null {
  const f = STATIC_FILES[path];
  if (!f) return null;
  let body = cache.get(path);
  if (!body) {
    let file = '';
    try {
      file = f.path();
      body = readFileSync(file);
    } catch (e) {
      throw new Error(`dashboard file ${file || path} missing: ${(e as Error).message}`);
    }
    cache.set(path, body);
  }
  return { body, type: f.type };
}
