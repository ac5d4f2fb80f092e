import { Writable } from 'node:stream';
import { main } from '../../src/cli/main.js';

class Sink extends Writable {
  data = '';
  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    this.data += chunk.toString('utf8');
    cb();
  }
}

/** Run the CLI in-process: exit code, stdout and stderr as strings. */
export async function runCli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = new Sink();
  const err = new Sink();
  const code = await main(['node', 'msu', ...args], out, err);
  return { code, stdout: out.data, stderr: err.data };
}
