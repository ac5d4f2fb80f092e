/**
 * Minimal Windows registry hive files ("regf"), built in code for tests: a base block, one
 * 4 KiB hive bin holding the root key (nk), its security cell (sk) and one free cell. hivexsh
 * (Debian libhivex-bin) then adds keys and values. Layout from the public description of the
 * format: base block fields at fixed offsets, checksum = XOR of the first 127 dwords.
 */
const BLOCK = 4096;

function cell(body: Buffer): Buffer {
  const size = Math.ceil((body.length + 4) / 8) * 8;
  const out = Buffer.alloc(size);
  out.writeInt32LE(-size, 0); // negative: allocated
  body.copy(out, 4);
  return out;
}

/** An empty hive whose root key is called `rootName`. */
export function emptyHive(rootName = 'ROOT'): Buffer {
  const hbinHeader = 0x20;
  const nkOff = hbinHeader; // offsets are relative to the first hive bin
  const nkBody = Buffer.alloc(76 + rootName.length);
  nkBody.write('nk', 0, 'latin1');
  nkBody.writeUInt16LE(0x2c, 2); // KEY_HIVE_ENTRY | KEY_NO_DELETE | KEY_COMP_NAME
  nkBody.writeUInt32LE(0xffffffff, 16); // parent: none
  nkBody.writeUInt32LE(0xffffffff, 28); // subkey list
  nkBody.writeUInt32LE(0xffffffff, 32); // volatile subkey list
  nkBody.writeUInt32LE(0xffffffff, 40); // value list
  nkBody.writeUInt32LE(0xffffffff, 48); // class name
  nkBody.writeUInt16LE(rootName.length, 72);
  nkBody.write(rootName, 76, 'latin1');
  const nk = cell(nkBody);
  const skOff = nkOff + nk.length;
  nkBody.writeUInt32LE(skOff, 44);
  const nk2 = cell(nkBody);
  // self-relative security descriptor: revision 1, SE_SELF_RELATIVE, no owner/group/ACLs
  const sd = Buffer.alloc(20);
  sd[0] = 1;
  sd.writeUInt16LE(0x8000, 2);
  const skBody = Buffer.alloc(20 + sd.length);
  skBody.write('sk', 0, 'latin1');
  skBody.writeUInt32LE(skOff, 4); // flink: itself
  skBody.writeUInt32LE(skOff, 8); // blink: itself
  skBody.writeUInt32LE(1, 12); // reference count
  skBody.writeUInt32LE(sd.length, 16);
  sd.copy(skBody, 20);
  const sk = cell(skBody);

  const hbin = Buffer.alloc(BLOCK);
  hbin.write('hbin', 0, 'latin1');
  hbin.writeUInt32LE(0, 4);
  hbin.writeUInt32LE(BLOCK, 8);
  nk2.copy(hbin, nkOff);
  sk.copy(hbin, skOff);
  const freeOff = skOff + sk.length;
  hbin.writeInt32LE(BLOCK - freeOff, freeOff); // positive: free

  const base = Buffer.alloc(BLOCK);
  base.write('regf', 0, 'latin1');
  base.writeUInt32LE(1, 4);
  base.writeUInt32LE(1, 8);
  base.writeUInt32LE(1, 0x14); // major
  base.writeUInt32LE(3, 0x18); // minor
  base.writeUInt32LE(0, 0x1c); // primary file
  base.writeUInt32LE(1, 0x20); // direct memory load format
  base.writeUInt32LE(nkOff, 0x24);
  base.writeUInt32LE(BLOCK, 0x28);
  base.writeUInt32LE(1, 0x2c);
  let x = 0;
  for (let i = 0; i < 0x1fc; i += 4) x = (x ^ base.readUInt32LE(i)) >>> 0;
  base.writeUInt32LE(x, 0x1fc);
  return Buffer.concat([base, hbin]);
}

/** A value for hivexSetScript: REG_SZ, REG_DWORD or REG_EXPAND_SZ. */
export type HiveValue = { sz: string } | { dword: number } | { expand: string };

/**
 * hivexsh commands that create `keys` (backslash paths from the root) with their values.
 * Keys are created parent first; each key's values are set in one setval.
 */
export function hivexScript(keys: Record<string, Record<string, HiveValue>>): string {
  const lines: string[] = [];
  const made = new Set<string>();
  for (const key of Object.keys(keys).sort()) {
    const parts = key.split('\\').filter(Boolean);
    for (let i = 0; i < parts.length; i++) {
      const p = parts.slice(0, i + 1).join('\\').toLowerCase();
      if (made.has(p)) continue;
      made.add(p);
      lines.push(`cd \\${parts.slice(0, i).join('\\')}`.replace(/\\$/, '\\ '), `add ${parts[i]}`);
    }
    const values = Object.entries(keys[key]!);
    if (values.length === 0) continue;
    lines.push(`cd \\${parts.join('\\')}`, `setval ${values.length}`);
    for (const [name, v] of values) {
      lines.push(name);
      if ('sz' in v) lines.push(`string:${v.sz}`);
      else if ('expand' in v) lines.push(`expandstring:${v.expand}`);
      else lines.push(`dword:0x${v.dword.toString(16).padStart(8, '0')}`);
    }
  }
  lines.push('commit', '');
  return lines.join('\n');
}
