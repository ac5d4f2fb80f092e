/**
 * A 2048-byte El Torito no-emulation boot image for BIOS boot checks under QEMU/SeaBIOS,
 * hand-assembled 16-bit x86. It jumps over bytes 8..63 (where mkisofs -boot-info-table puts
 * the PVD block, the image's own block, its length and checksum), reads the 2048-byte block
 * the table names with int 13h AH=42h from the boot drive (DL), compares its bytes 64..127
 * with its own copy in memory (0000:7C40), and prints `BOOTINFO OK` or `BOOTINFO BAD` to COM1
 * (port 0x3F8), then halts. A stale table (an old block address) prints BAD, as isolinux or
 * GRUB would fail to find themselves.
 */
export function bootInfoCheckImage(): Buffer {
  const b: number[] = [];
  const base = 0x7c00;
  const labels: Record<string, number> = {};
  const fixups: Array<{ at: number; label: string; add: number; rel8: boolean }> = [];
  const db = (...x: number[]): void => void b.push(...x);
  const abs = (label: string, add = 0): void => {
    fixups.push({ at: b.length, label, add, rel8: false });
    db(0, 0);
  };
  const rel8 = (label: string): void => {
    fixups.push({ at: b.length, label, add: 0, rel8: true });
    db(0);
  };
  const label = (name: string): void => void (labels[name] = base + b.length);

  db(0xeb, 0x3e); // jmp short 0x7c40, over the boot info table
  while (b.length < 64) db(0);
  db(0xfa, 0x31, 0xc0, 0x8e, 0xd8, 0x8e, 0xc0, 0x8e, 0xd0, 0xbc, 0x00, 0x7c, 0xfb); // cli; ds=es=ss=0; sp=7C00; sti
  db(0x66, 0xa1, 0x0c, 0x7c); // mov eax,[7C0C]: the image's block from the table
  db(0x66, 0xa3), abs('dap', 8); // mov [dap+8],eax
  db(0xbe), abs('dap'); // mov si,dap
  db(0xb4, 0x42, 0xcd, 0x13); // int 13h AH=42h, DL = boot drive
  db(0x72), rel8('bad'); // jc bad
  db(0xbe, 0x40, 0x7c, 0xbf, 0x40, 0x10, 0xb9, 0x40, 0x00, 0xfc, 0xf3, 0xa6); // repe cmpsb 7C40 vs 1040, 64 bytes
  db(0x75), rel8('bad'); // jne bad
  db(0xbe), abs('ok'); // mov si,ok
  db(0xeb), rel8('print');
  label('bad');
  db(0xbe), abs('badmsg');
  label('print');
  db(0xba, 0xf8, 0x03); // mov dx,3F8
  db(0xac, 0x84, 0xc0, 0x74, 0x03, 0xee, 0xeb, 0xf8); // lodsb; test al,al; jz halt; out dx,al; jmp lodsb
  db(0xf4, 0xeb, 0xfd); // halt: hlt; jmp halt
  label('ok');
  db(...Buffer.from('BOOTINFO OK\r\n\0', 'latin1'));
  label('badmsg');
  db(...Buffer.from('BOOTINFO BAD\r\n\0', 'latin1'));
  while (b.length % 4) db(0);
  label('dap');
  db(16, 0, 1, 0, 0x00, 0x10, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0); // 1 block to 0000:1000, LBA filled in
  for (const f of fixups) {
    const target = labels[f.label]!;
    if (f.rel8) b[f.at] = (target - (base + f.at + 1)) & 0xff;
    else {
      const v = target + f.add;
      b[f.at] = v & 0xff;
      b[f.at + 1] = v >> 8;
    }
  }
  while (b.length < 2048) db(0);
  return Buffer.from(b);
}
