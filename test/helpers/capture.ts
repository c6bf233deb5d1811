import { PassThrough } from 'node:stream';

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
