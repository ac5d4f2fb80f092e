import { FormatError } from '../errors.js';

/**
 * Canonical JSON: object keys sorted, two-space indent, trailing newline.
 * Same value in, same bytes out, whatever order the object was built in.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value), null, 2) + '\n';
}

/**
 * canonicalJson({ ...head, [key]: [...items] }) in pieces, one item at a time, so a listing of
 * hundreds of thousands of entries is never one string. The pieces joined are byte for byte
 * what canonicalJson gives.
 */
export function* canonicalJsonChunks(head: Record<string, unknown>, key: string, items: Iterable<unknown>): Generator<string> {
  const keys = [...Object.keys(head).filter((k) => k !== key && head[k] !== undefined), key].sort();
  const nest = (v: unknown, indent: string): string => (JSON.stringify(sortKeys(v), null, 2) ?? 'null').replace(/\n/g, `\n${indent}`);
  yield '{\n';
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    const end = i === keys.length - 1 ? '\n' : ',\n';
    if (k !== key) {
      yield `  ${JSON.stringify(k)}: ${nest(head[k], '  ')}${end}`;
      continue;
    }
    let first = true;
    for (const item of items) {
      yield `${first ? `  ${JSON.stringify(k)}: [\n` : ',\n'}    ${nest(item, '    ')}`;
      first = false;
    }
    yield `${first ? `  ${JSON.stringify(k)}: []` : '\n  ]'}${end}`;
  }
  yield '}\n';
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object' && !(v instanceof Uint8Array)) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v as object).sort()) {
      const x = (v as Record<string, unknown>)[k];
      if (x !== undefined) out[k] = sortKeys(x);
    }
    return out;
  }
  if (typeof v === 'bigint') return v.toString();
  return v;
}

/**
 * Read and parse a JSON file; an I/O error (a FIFO or a device is refused: readWholeFile) or
 * invalid JSON names the file (`code` for the latter, `what` in its message).
 */
export async function readJsonFile(file: string, code: string, what = ''): Promise<unknown> {
  // loaded here only: canonicalJson is on every command's path, reading a JSON file is not
  const { readWholeFile } = await import('./source.js');
  const bytes = await readWholeFile(file, what || 'JSON file');
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  try {
    // a UTF-8 byte order mark, as Windows editors write one, is not part of the JSON
    return JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text) as unknown;
  } catch (e) {
    throw new FormatError(code, `${what ? `${what} is ` : ''}not valid JSON: ${(e as Error).message}`, { file });
  }
}
