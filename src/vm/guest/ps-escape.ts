import { FormatError } from '../../errors.js';

/**
 * PowerShell literals for the few places where a value must appear in code. The runner
 * itself takes all data from a JSON parameter file (ConvertFrom-Json), so these are
 * only for generator-owned constants and for tests that prove the escaping.
 *
 * In a single-quoted string PowerShell expands nothing; the only special character is
 * the quote itself, written twice. PowerShell also accepts the typographic quotes
 * U+2018, U+2019, U+201A and U+201B as single quotes, so they are doubled too.
 */
const SINGLE_QUOTES = /['\u2018\u2019\u201a\u201b]/g;

export function psSingleQuote(value: string): string {
  if (value.includes('\u0000')) {
    throw new FormatError('E_PS_UNSAFE', `string ${JSON.stringify(value)} contains NUL; it cannot be written into a PowerShell script`);
  }
  return `'${value.replace(SINGLE_QUOTES, (q) => q + q)}'`;
}

export type PsValue = string | number | boolean | null | PsValue[] | { [key: string]: PsValue };

/**
 * A PowerShell expression that evaluates to `value`: `@(...)` arrays, `[ordered]@{...}`
 * hashtables with quoted keys, `$true/$false/$null`, and invariant-culture numbers.
 */
export function psLiteral(value: PsValue): string {
  if (value === null) return '$null';
  if (typeof value === 'boolean') return value ? '$true' : '$false';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new FormatError('E_PS_UNSAFE', `number ${value} has no PowerShell literal`);
    // Parenthesised so a negative number is still one operand inside @( , ).
    return Number.isInteger(value) ? `([long]${value})` : `([double]'${value}')`;
  }
  if (typeof value === 'string') return psSingleQuote(value);
  if (Array.isArray(value)) return `@(${value.map(psLiteral).join(', ')})`;
  const keys = Object.keys(value).sort();
  return `[ordered]@{${keys.map((k) => `${psSingleQuote(k)} = ${psLiteral(value[k]!)}`).join('; ')}}`;
}
