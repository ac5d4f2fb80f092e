import { lstatSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import path from 'node:path';

/** Every path under dir with its kind and content (file bytes, link target): "exactly as it was" is this being equal. */
export function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string, rel: string): void => {
    for (const name of readdirSync(d).sort()) {
      const abs = path.join(d, name), r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(abs);
      if (st.isSymbolicLink()) out[r] = `link:${readlinkSync(abs)}`;
      else if (st.isDirectory()) {
        out[r] = 'dir';
        walk(abs, r);
      } else out[r] = `file:${readFileSync(abs, 'latin1')}`;
    }
  };
  walk(dir, '');
  return out;
}
