/** The one string comparator: stable order by UTF-16 code units, independent of locale (the order canonicalJson gives keys). */
export function byCode(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
