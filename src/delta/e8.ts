/**
 * Undo the x86 E8 call translation over the whole output (flag bit 0, docs/delta.md): at each 0xE8
 * byte in [0, n - 10], the following i32 v is turned back from an absolute target into a relative
 * one when -i <= v < n (v - i for v >= 0, v + n below), and the scan skips the 4 operand bytes
 * whether or not it translated. In place.
 */
export function undoE8(buf: Uint8Array): void {
  const n = buf.length;
  if (n < 11) return;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  for (let i = 0; i <= n - 11; ) {
    if (buf[i] !== 0xe8) {
      i++;
      continue;
    }
    const v = view.getInt32(i + 1, true);
    if (v >= -i && v < n) view.setInt32(i + 1, v >= 0 ? v - i : v + n, true);
    i += 5;
  }
}
