/** FILETIME (100 ns ticks since 1601-01-01 UTC) to an ISO date; null when outside what Date can show. */
export function filetimeToIso(ft: bigint | string): string | null {
  let t: bigint;
  try {
    t = typeof ft === 'bigint' ? ft : BigInt(ft);
  } catch {
    return null;
  }
  const ms = t / 10000n - 11644473600000n;
  if (ms < -8640000000000000n || ms > 8640000000000000n) return null;
  return new Date(Number(ms)).toISOString();
}
