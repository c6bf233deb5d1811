import { PassThrough } from 'node:stream';
import { run } from '../../cli/main';
import { loadCliConfig } from '../../common/config';

/** A writable the CLI's run(argv, io) prints to, keeping what a person would have read. */
export class Capture extends PassThrough {
  text = '';
  isTTY = false;
  constructor() {
    super();
    this.on('data', (d: Buffer) => {
      this.text += d.toString();
    });
  }
}

/** Runs the `holdfast` CLI in-process, as a person would: what it printed and its exit code. */
export async function runCli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const stdout = new Capture();
  const stderr = new Capture();
  const code = await run(args, { stdout, stderr: stderr as unknown as NodeJS.WriteStream, config: loadCliConfig({}) });
  return { code, out: stdout.text, err: stderr.text };
}
