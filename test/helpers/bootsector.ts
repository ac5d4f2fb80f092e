/**
 * Tiny fake guests for the QEMU runner tests: 512-byte BIOS boot sectors, hand-assembled
 * 16-bit real-mode x86 (SeaBIOS loads sector 0 at 0000:7C00 and jumps there with DL =
 * boot drive). They talk the serial protocol by writing bytes to COM1 (I/O port 0x3F8),
 * power off through ACPI (q35/ICH9: PM base 0x600, PM1a_CNT = 0x604, SLP_TYP 0 = S5 soft
 * off, SLP_EN = bit 13, after enabling ACPI mode via the SMI command port 0xB2), reset
 * through the 8042 keyboard controller (command 0xFE on port 0x64), or report a crash through
 * the ISA pvpanic device (bit 0 "panicked" written to port 0x505, which QEMU turns into the
 * QMP event GUEST_PANICKED).
 */

const ORG = 0x7c00;
/** Buffer for int 13h reads: right after the boot sector. */
const BUF = 0x7e00;

/** A minimal assembler: raw bytes plus labels for the few jumps and addresses we need. */
class Asm {
  private out: number[] = [];
  private labels = new Map<string, number>();
  private fixups: Array<{ at: number; label: string; kind: 'rel8' | 'rel16' | 'abs16' }> = [];

  db(...b: number[]): this {
    this.out.push(...b);
    return this;
  }
  ascii(s: string): this {
    for (const ch of Buffer.from(s, 'latin1')) this.out.push(ch);
    return this;
  }
  label(name: string): this {
    this.labels.set(name, this.out.length);
    return this;
  }
  /** opcode + rel8 to label (short jumps: EB jmp, 74 jz, 72 jb). */
  jr8(op: number, label: string): this {
    this.out.push(op, 0);
    this.fixups.push({ at: this.out.length - 1, label, kind: 'rel8' });
    return this;
  }
  call(label: string): this {
    this.out.push(0xe8, 0, 0);
    this.fixups.push({ at: this.out.length - 2, label, kind: 'rel16' });
    return this;
  }
  /** opcode + absolute 16-bit address of label (BE = mov si,imm16; A2 = mov [moffs16],al). */
  abs16(op: number, label: string): this {
    this.out.push(op, 0, 0);
    this.fixups.push({ at: this.out.length - 2, label, kind: 'abs16' });
    return this;
  }
  bytes(): Buffer {
    const b = Buffer.from(this.out);
    for (const f of this.fixups) {
      const target = this.labels.get(f.label);
      if (target === undefined) throw new Error(`undefined label ${f.label}`);
      if (f.kind === 'rel8') {
        const rel = target - (f.at + 1);
        if (rel < -128 || rel > 127) throw new Error(`short jump to ${f.label} out of range`);
        b.writeInt8(rel, f.at);
      } else if (f.kind === 'rel16') {
        b.writeInt16LE(target - (f.at + 2), f.at);
      } else {
        b.writeUInt16LE(ORG + target, f.at);
      }
    }
    return b;
  }
}

function prologue(a: Asm): void {
  // cli; xor ax,ax; mov ds,ax; mov es,ax; mov ss,ax; mov sp,0x7c00; sti; cld
  a.db(0xfa, 0x31, 0xc0, 0x8e, 0xd8, 0x8e, 0xc0, 0x8e, 0xd0, 0xbc, 0x00, 0x7c, 0xfb, 0xfc);
}

function print(a: Asm, label: string): void {
  a.abs16(0xbe, label).call('print'); // mov si, label; call print
}

function routines(a: Asm): void {
  // print: mov dx,0x3f8; .l: lodsb; test al,al; jz .d; out dx,al; jmp .l; .d: ret
  a.label('print').db(0xba, 0xf8, 0x03).label('print_l').db(0xac, 0x84, 0xc0).jr8(0x74, 'print_d').db(0xee).jr8(0xeb, 'print_l').label('print_d').db(0xc3);
  // poweroff: mov al,2; out 0xb2,al; mov dx,0x604; mov ax,0x2000; out dx,ax; then halt
  a.label('poweroff').db(0xb0, 0x02, 0xe6, 0xb2, 0xba, 0x04, 0x06, 0xb8, 0x00, 0x20, 0xef).jr8(0xeb, 'halt');
  // reset: mov al,0xfe; out 0x64,al; then halt
  a.label('reset').db(0xb0, 0xfe, 0xe6, 0x64);
  // halt: cli; hlt; jmp halt
  a.label('halt').db(0xfa, 0xf4).jr8(0xeb, 'halt');
  // hang: spin with interrupts on (a guest stuck in a loop, not halted)
  a.label('hang').jr8(0xeb, 'hang');
  // panic: mov dx,0x505; mov al,1; out dx,al; then halt (QEMU pauses the VM anyway)
  a.label('panic').db(0xba, 0x05, 0x05, 0xb0, 0x01, 0xee).jr8(0xeb, 'halt');
}

function finish(a: Asm): Buffer {
  const code = a.bytes();
  if (code.length > 510) throw new Error(`boot sector code is ${code.length} bytes, max 510`);
  const sector = Buffer.alloc(512);
  code.copy(sector);
  sector[510] = 0x55;
  sector[511] = 0xaa;
  return sector;
}

export type GuestEnd = 'poweroff' | 'reset' | 'hang' | 'panic';

/** Print `lines` (each gets CRLF) to COM1, then power off, reset, hang or panic. */
export function simpleBootSector(lines: string[], end: GuestEnd): Buffer {
  const a = new Asm();
  prologue(a);
  lines.forEach((_, i) => print(a, `msg${i}`));
  a.jr8(0xeb, end);
  routines(a);
  lines.forEach((l, i) => a.label(`msg${i}`).ascii(`${l}\r\n\0`));
  return finish(a);
}

/**
 * A guest that keeps a boot counter in the byte at offset 512 of its own disk (LBA 1 =
 * CHS 0/0/2 on drive 0x80): each boot reads it with int 13h AH=02, increments it, writes it
 * back with AH=03 and announces `boot n`. Below `rounds` it reports a step and resets;
 * at `rounds` it reports done and powers off. Single digits only (rounds ≤ 9).
 */
export function roundsBootSector(rounds: number): Buffer {
  if (rounds < 1 || rounds > 9) throw new Error('rounds must be 1..9');
  const a = new Asm();
  prologue(a);
  const sectorIo = (ah: number) =>
    // mov ax,AH<<8|1; mov cx,0x0002; mov dx,0x0080; mov bx,BUF; int 0x13
    a.db(0xb8, 0x01, ah, 0xb9, 0x02, 0x00, 0xba, 0x80, 0x00, 0xbb, BUF & 0xff, BUF >> 8, 0xcd, 0x13);
  sectorIo(0x02);
  a.db(0xfe, 0x06, BUF & 0xff, BUF >> 8); // inc byte [BUF]
  sectorIo(0x03);
  // mov al,[BUF]; add al,'0'; mov [digit],al
  a.db(0xa0, BUF & 0xff, BUF >> 8, 0x04, 0x30).abs16(0xa2, 'digit');
  print(a, 'noise');
  roundEnd(a, [0x80, 0x3e, BUF & 0xff, BUF >> 8, rounds]); // cmp byte [BUF], rounds
  a.label('noise').ascii('firmware chatter before the protocol\r\n\0');
  return finish(a);
}

/**
 * Shared end of the round guests: announce `boot n` (the digit at label `digit`), run the
 * compare `cmp`, and below the limit report a step and reset, else done and power off.
 * Also places the routines and the protocol strings.
 */
function roundEnd(a: Asm, cmp: number[]): void {
  print(a, 'boot');
  a.db(...cmp);
  a.jr8(0x72, 'again'); // jb again
  print(a, 'done');
  a.jr8(0xeb, 'poweroff');
  a.label('again');
  print(a, 'step');
  a.jr8(0xeb, 'reset');
  routines(a);
  a.label('boot').ascii('@@MSU {"type":"boot","n":').label('digit').ascii('0}\r\n\0');
  a.label('step').ascii('@@MSU {"type":"step","id":"round","name":"round","state":"ok"}\r\n\0');
  a.label('done').ascii('@@MSU {"type":"done","ok":true}\r\n\0');
}

/** The status file statusRoundsBootSector finds and updates: a marker, then a one-digit round counter. */
export const STATUS_ROUNDS_FILE = '{"msu":1,"round":0,"ok":true}\r\n';
const STATUS_DIGIT = STATUS_ROUNDS_FILE.indexOf('0');

/**
 * A guest that keeps its round counter in `status.json` on the FAT status disk (BIOS drive
 * 0x81), the way the real guests keep theirs: it scans the disk with int 13h AH=42h (LBA
 * reads) for the sector that starts with the file's `{"ms` marker (FAT data clusters are
 * sector-aligned), increments the digit after `"round":`, writes the sector back with
 * AH=43h and announces `boot n`. Below `rounds` it reports a step and resets; then done and
 * power-off. The host reads status.json back with mtools. Single digits only (rounds <= 9).
 */
export function statusRoundsBootSector(rounds: number): Buffer {
  if (rounds < 1 || rounds > 9) throw new Error('rounds must be 1..9');
  const a = new Asm();
  const dig = BUF + STATUS_DIGIT;
  prologue(a);
  a.label('scan');
  // mov si,dap; mov ah,0x42; mov dl,0x81; int 0x13; jc fail
  a.abs16(0xbe, 'dap').db(0xb4, 0x42, 0xb2, 0x81, 0xcd, 0x13).jr8(0x72, 'fail');
  // cmp word [BUF],'{"'; jne next; cmp word [BUF+2],'ms'; je found
  a.db(0x81, 0x3e, BUF & 0xff, BUF >> 8, 0x7b, 0x22).jr8(0x75, 'next');
  a.db(0x81, 0x3e, (BUF + 2) & 0xff, (BUF + 2) >> 8, 0x6d, 0x73).jr8(0x74, 'found');
  a.label('next');
  // inc word [dap_lba]; cmp word [dap_lba],4096; jb scan
  a.db(0xff).abs16(0x06, 'dap_lba');
  a.db(0x81).abs16(0x3e, 'dap_lba').db(0x00, 0x10).jr8(0x72, 'scan');
  a.label('fail');
  print(a, 'nostatus');
  a.jr8(0xeb, 'poweroff');
  a.label('found');
  a.db(0xfe, 0x06, dig & 0xff, dig >> 8); // inc byte [digit in BUF]
  // mov si,dap; mov ax,0x4300; mov dl,0x81; int 0x13; jc fail
  a.abs16(0xbe, 'dap').db(0xb8, 0x00, 0x43, 0xb2, 0x81, 0xcd, 0x13).jr8(0x72, 'fail');
  a.db(0xa0, dig & 0xff, dig >> 8).abs16(0xa2, 'digit'); // mov al,[digit in BUF]; mov [digit],al
  roundEnd(a, [0x80, 0x3e, dig & 0xff, dig >> 8, 0x30 + rounds]); // cmp byte [digit in BUF],'0'+rounds
  // disk address packet: size 16, one sector, to 0000:BUF, from LBA dap_lba
  a.label('dap').db(0x10, 0x00, 0x01, 0x00, BUF & 0xff, BUF >> 8, 0x00, 0x00).label('dap_lba').db(0, 0, 0, 0, 0, 0, 0, 0);
  a.label('nostatus').ascii('@@MSU {"type":"error","code":"no-status","message":"status.json not found"}\r\n\0');
  return finish(a);
}

/**
 * A guest that announces `boot`, then writes one sector (the 512 bytes after the boot sector in
 * memory) to cylinder `cylinder`, head 0, sector 1 of its own disk with int 13h AH=03, then
 * hangs. With SeaBIOS's geometry for a 1 MiB disk (16 heads, 63 sectors), cylinder 1 is
 * LBA 1008, byte offset 516096: the write lands far from the start of the image file.
 */
export function diskWriteBootSector(bootLine: string, cylinder: number): Buffer {
  if (cylinder < 0 || cylinder > 255) throw new Error('cylinder must be 0..255');
  const a = new Asm();
  prologue(a);
  print(a, 'boot');
  // mov ax,0x0301; mov cx,(cylinder<<8)|1; mov dx,0x0080; mov bx,BUF; int 0x13
  a.db(0xb8, 0x01, 0x03, 0xb9, 0x01, cylinder, 0xba, 0x80, 0x00, 0xbb, BUF & 0xff, BUF >> 8, 0xcd, 0x13);
  a.jr8(0xeb, 'hang');
  routines(a);
  a.label('boot').ascii(`${bootLine}\r\n\0`);
  return finish(a);
}

/** A raw disk image: the boot sector, then zeros (the counter byte lives at offset 512). */
export function bootDisk(sector: Buffer, sizeBytes = 1024 * 1024): Buffer {
  const disk = Buffer.alloc(sizeBytes);
  sector.copy(disk, 0);
  return disk;
}
