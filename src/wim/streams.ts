import { runTool } from '../util/exec.js';
import { mapWimlibError, WIMLIB } from './wimlib.js';

/** A file of a WIM image with where its unnamed data stream lives (from `wimlib-imagex dir --detailed`). */
export interface WimStreamEntry {
  /** Absolute path in the image, `/`-separated. */
  path: string;
  isDirectory: boolean;
  size: number;
  compressedSize: number;
  /** Offset of the stream's resource in the WIM file. */
  offset: number;
  /** Resource flags as wimlib names them (WIM_RESHDR_FLAG_COMPRESSED, …). */
  flags: string[];
  /** True when the bytes sit in the WIM file as-is, so they can be read in place. */
  storedInPlace: boolean;
  /**
   * For a stream inside a solid resource (`offset` is then 0): the resource's offset in the WIM
   * file, and the stream's offset in the resource's uncompressed data.
   */
  solid?: { resource: number; at: number };
}

/** Parse `wimlib-imagex dir WIM N --detailed` output (pure). */
export function parseDirDetailed(text: string): WimStreamEntry[] {
  const out: WimStreamEntry[] = [];
  for (const block of text.split(/^-{20,}$/m)) {
    const pathM = /^Full Path\s*=\s*"(.*)"$/m.exec(block);
    if (!pathM) continue;
    const attrs = parseInt(/^Attributes\s*=\s*0x([0-9a-f]+)/im.exec(block)?.[1] ?? '0', 16);
    // Only the unnamed data stream: it is the first stream block after the header.
    const stream = block.split(/^\s*Unnamed data stream:\s*$/m)[1] ?? '';
    const num = (re: RegExp) => Number(re.exec(stream)?.[1] ?? '0');
    const flagsLine = /^Flags\s*=\s*(.*)$/m.exec(stream)?.[1] ?? '';
    const flags = flagsLine.trim().split(/\s+/).filter(Boolean);
    const size = num(/^Uncompressed size\s*=\s*(\d+)/m);
    const solid = /^Solid resource\s*=\s*\d+\s*=>\s*\d+ bytes @ offset (\d+)/m.exec(stream);
    const solidAt = /^Solid offset\s*=\s*(\d+)/m.exec(stream);
    const compressedSize = num(/^Compressed size\s*=\s*(\d+)/m);
    out.push({
      path: pathM[1]!,
      isDirectory: (attrs & 0x10) !== 0,
      size,
      compressedSize,
      offset: num(/^Offset in WIM\s*=\s*(\d+)/m),
      flags,
      storedInPlace: size === compressedSize && !flags.some((f) => /COMPRESSED|SOLID/.test(f)),
      ...(solid && solidAt ? { solid: { resource: Number(solid[1]), at: Number(solidAt[1]) } } : {}),
    });
  }
  return out;
}

export async function wimDirDetailed(file: string, index: number): Promise<WimStreamEntry[]> {
  try {
    const r = await runTool(WIMLIB, ['dir', file, String(index), '--detailed'], { file });
    return parseDirDetailed(r.stdout);
  } catch (err) {
    throw mapWimlibError(err, file, 'dir');
  }
}

/** One file of an image as bytes (`wimlib-imagex extract --to-stdout`). */
export async function wimReadFile(file: string, index: number, imagePath: string): Promise<Uint8Array> {
  try {
    const r = await runTool(WIMLIB, ['extract', file, String(index), imagePath, '--to-stdout', '--no-globs'], { file, binary: true });
    return r.stdout;
  } catch (err) {
    throw mapWimlibError(err, file, 'extract');
  }
}
