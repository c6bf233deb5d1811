/**
 * Builds the responder console into dist/console/ (served by the API at /console): type-checks console/ with
 * its own tsconfig (DOM, no Node), bundles console/src/main.ts with preact into one app.js with esbuild, and
 * copies index.html and app.css. Everything the page loads comes from the API's origin: no CDN at run time.
 * Run by `npm run build` and scripts/bootstrap.sh after tsc.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';

const root = path.resolve(__dirname, '..', '..');
const source = path.join(root, 'console');
const out = path.join(root, 'dist', 'console');

async function main(): Promise<void> {
  execFileSync(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', source], {
    stdio: 'inherit',
  });
  fs.mkdirSync(out, { recursive: true });
  await build({
    entryPoints: [path.join(source, 'src', 'main.ts')],
    bundle: true,
    format: 'iife',
    target: 'es2020',
    minify: true,
    sourcemap: false,
    legalComments: 'none',
    outfile: path.join(out, 'app.js'),
    logLevel: 'warning',
  });
  for (const file of ['index.html', 'app.css']) fs.copyFileSync(path.join(source, file), path.join(out, file));
}

main().catch((err: unknown) => {
  process.stderr.write(`[holdfast] console build failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
