import { describe, expect, it } from 'vitest';
import { uniform as rng } from '../helpers/rng.js';
import { cmdEchoLine, cmdEscape, cmdQuote, cmdVar, cmdWord } from '../../src/vm/guest/cmd-escape.js';
import { psLiteral, psSingleQuote } from '../../src/vm/guest/ps-escape.js';
import { MsuError } from '../../src/errors.js';
import { hasPsParser, psSyntaxErrors } from '../helpers/ps-syntax.js';

/**
 * A model of how cmd.exe reads one batch line, written from the parsing rules (not from
 * the escaper): phase 1 percent expansion, phase 2 quotes/carets/operators, phase 5
 * delayed expansion. It returns the literal text the command receives and every place
 * where data would have been interpreted (a "leak").
 */
function cmdParse(line: string, delayed = false): { text: string; leaks: string[] } {
  const leaks: string[] = [];
  // phase 1 (batch file): %% -> %, %name% / %1 / %~1 -> expansion, a lone % vanishes
  let p1 = '';
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c !== '%') {
      p1 += c;
      continue;
    }
    if (line[i + 1] === '%') {
      p1 += '%';
      i++;
      continue;
    }
    const arg = /^%~?[0-9*]/.exec(line.slice(i));
    if (arg) {
      leaks.push(`argument ${arg[0]}`);
      i += arg[0].length - 1;
      continue;
    }
    const close = line.indexOf('%', i + 1);
    if (close > i + 1) {
      leaks.push(`variable ${line.slice(i, close + 1)}`);
      i = close;
      continue;
    }
    // lone percent is removed by cmd.exe: the data would be altered
    leaks.push('lone %');
  }
  // phase 2: quotes toggle; outside quotes ^x is literal x and & | < > ( ) are operators
  let p2 = '';
  let quoted = false;
  for (let i = 0; i < p1.length; i++) {
    const c = p1[i]!;
    if (c === '"') {
      quoted = !quoted;
      p2 += c;
      continue;
    }
    if (!quoted && c === '^') {
      if (i + 1 < p1.length) p2 += p1[++i]!;
      continue;
    }
    if (!quoted && '&|<>()'.includes(c)) leaks.push(`operator ${c}`);
    p2 += c;
  }
  if (!delayed || !p2.includes('!')) return { text: p2, leaks };
  // phase 5: carets removed again, !name! expanded, a lone ! removed
  let p5 = '';
  for (let i = 0; i < p2.length; i++) {
    const c = p2[i]!;
    if (c === '^') {
      if (i + 1 < p2.length) p5 += p2[++i]!;
      continue;
    }
    if (c === '!') {
      const close = p2.indexOf('!', i + 1);
      leaks.push(close > i ? `delayed variable ${p2.slice(i, close + 1)}` : 'lone !');
      if (close > i) i = close;
      continue;
    }
    p5 += c;
  }
  return { text: p5, leaks };
}



const HOSTILE = ['^', '&', '|', '<', '>', '(', ')', '%', '!', '"', ' ', 'a', 'Z', '0', '\\', ':', '~', '1', '=', ';', ',', 'é'];

function randomText(next: () => number, alphabet: string[], maxLen = 24): string {
  const n = Math.floor(next() * maxLen) + 1;
  let s = '';
  for (let i = 0; i < n; i++) s += alphabet[Math.floor(next() * alphabet.length)]!;
  return s;
}

describe('cmd model sanity (the oracle itself)', () => {
  it('detects raw metacharacters and variables, and decodes carets', () => {
    expect(cmdParse('echo a&b').leaks).toEqual(['operator &']);
    expect(cmdParse('echo %PATH%').leaks).toEqual(['variable %PATH%']);
    expect(cmdParse('echo a^&b 100%%').text).toBe('echo a&b 100%');
    expect(cmdParse('echo "a&b"').leaks).toEqual([]);
    expect(cmdParse('echo !x!', true).leaks).toEqual(['delayed variable !x!']);
  });
});

describe('cmdEscape', () => {
  it('escapes known examples exactly', () => {
    expect(cmdEscape('a&b|c<d>e^f(g)')).toBe('a^&b^|c^<d^>e^^f^(g^)');
    expect(cmdEscape('100% "x&y" z&')).toBe('100%% "x&y" z^&');
    expect(cmdEscape('%PATH%')).toBe('%%PATH%%');
    expect(cmdEscape('hi!', { delayedExpansion: true })).toBe('hi^^^!');
    expect(cmdEscape('"hi!"', { delayedExpansion: true })).toBe('"hi^!"');
  });

  it('property: no metacharacter from data reaches cmd.exe, and the text comes back unchanged (2000 random strings)', () => {
    const next = rng(42);
    for (let i = 0; i < 2000; i++) {
      const data = randomText(next, HOSTILE);
      // the payload after `echo(` is what data controls
      const r = cmdParse(cmdEscape(data));
      expect(r.leaks, JSON.stringify(data)).toEqual([]);
      expect(r.text, JSON.stringify(data)).toBe(data);
    }
  });

  it('property under delayed expansion: same guarantee, or a refusal for text with both ^ and !', () => {
    const next = rng(7);
    let refused = 0;
    for (let i = 0; i < 2000; i++) {
      const data = randomText(next, HOSTILE);
      let escaped: string;
      try {
        escaped = cmdEscape(data, { delayedExpansion: true });
      } catch (e) {
        expect(e).toBeInstanceOf(MsuError);
        expect((e as MsuError).code).toBe('E_CMD_UNSAFE');
        expect(data.includes('^') && data.includes('!')).toBe(true);
        refused++;
        continue;
      }
      const r = cmdParse(escaped, true);
      expect(r.leaks, JSON.stringify(data)).toEqual([]);
      expect(r.text, JSON.stringify(data)).toBe(data);
    }
    expect(refused).toBeGreaterThan(0);
  });

  it('refuses line breaks, NUL and Ctrl-Z with a typed error', () => {
    for (const bad of ['a\nb', 'a\rb', 'a\u0000', '\u001a']) {
      expect(() => cmdEscape(bad)).toThrow(/line break, NUL or Ctrl-Z/);
    }
  });

  it('turns generator variable references into %NAME% but never data percent signs', () => {
    expect(cmdEscape(`${cmdVar('MSU_W')}\\mnt & 50%`)).toBe('%MSU_W%\\mnt ^& 50%%');
    expect(() => cmdVar('A B')).toThrow(MsuError);
  });
});

describe('cmdQuote', () => {
  it('quotes paths with spaces and doubles percent signs', () => {
    expect(cmdQuote('C:\\Program Files\\x')).toBe('"C:\\Program Files\\x"');
    expect(cmdQuote('D:\\a%b%\\')).toBe('"D:\\a%%b%%"');
  });

  it('property: a quoted argument arrives intact with no operator or variable active (2000 random paths)', () => {
    const next = rng(99);
    const alphabet = HOSTILE.filter((c) => c !== '"');
    for (let i = 0; i < 2000; i++) {
      const data = randomText(next, alphabet).replace(/\\+$/, '') || 'x';
      for (const delayed of [false, true]) {
        const r = cmdParse('dism /PackagePath:' + cmdQuote(data, { delayedExpansion: delayed }), delayed);
        expect(r.leaks, JSON.stringify(data)).toEqual([]);
        // delayed expansion with both ^ and ! is refused in cmdEscape, quoted carets survive phase 5 here only when escaped
        expect(r.text, JSON.stringify(data)).toBe(`dism /PackagePath:"${data}"`);
      }
    }
  });

  it('refuses a double quote (it cannot be escaped inside a cmd quoted string)', () => {
    expect(() => cmdQuote('a"&calc')).toThrow(/double quote/);
  });
});

describe('cmdWord and cmdEchoLine', () => {
  it('accepts generated words and refuses anything else', () => {
    expect(cmdWord('i1s2')).toBe('i1s2');
    expect(() => cmdWord('i1&s2')).toThrow(MsuError);
  });

  it('puts the redirection first, so an odd quote or trailing digit in the payload cannot change it', () => {
    const line = cmdEchoLine('{"a":"x\\"&1"}1', '>COM1');
    expect(line.startsWith('>COM1 echo(')).toBe(true);
    const r = cmdParse(line.slice('>COM1 echo('.length));
    expect(r.leaks).toEqual([]);
    expect(r.text).toBe('{"a":"x\\"&1"}1');
    expect(() => cmdEchoLine('x', '>"a&b"')).toThrow(/redirect target/);
    expect(cmdEchoLine('x', '>>"%MSU_S%\\status.jsonl"')).toBe('>>"%MSU_S%\\status.jsonl" echo(x');
  });
});

describe('psSingleQuote / psLiteral', () => {
  /** Read one single-quoted PowerShell string token; returns its value and where it ended. */
  function psReadSingle(src: string): { value: string; end: number } {
    const Q = "'\u2018\u2019\u201a\u201b";
    if (!Q.includes(src[0]!)) throw new Error('not a single-quoted string');
    let value = '';
    for (let i = 1; i < src.length; i++) {
      const c = src[i]!;
      if (Q.includes(c)) {
        if (i + 1 < src.length && Q.includes(src[i + 1]!)) {
          value += c;
          i++;
          continue;
        }
        return { value, end: i + 1 };
      }
      value += c;
    }
    throw new Error('unterminated');
  }

  it('doubles every kind of single quote and nothing else', () => {
    expect(psSingleQuote("it's $env:PATH `n")).toBe("'it''s $env:PATH `n'");
    expect(psSingleQuote('a\u2019b')).toBe("'a\u2019\u2019b'");
  });

  it('property: the literal reads back as exactly one token with the original value', () => {
    const next = rng(5);
    const alphabet = ["'", '\u2018', '\u2019', '\u201a', '\u201b', '"', '$', '`', '(', ')', '{', '}', ';', ' ', 'a', '@', '#', '\n'];
    for (let i = 0; i < 2000; i++) {
      const data = randomText(next, alphabet);
      const lit = psSingleQuote(data);
      const r = psReadSingle(lit);
      expect(r.value, JSON.stringify(data)).toBe(data);
      expect(r.end, JSON.stringify(data)).toBe(lit.length);
    }
  });

  it('builds arrays and ordered hashtables with sorted, quoted keys', () => {
    expect(psLiteral({ b: [1, 'x'], a: true, c: null, 'd e': -2 })).toBe(
      "[ordered]@{'a' = $true; 'b' = @(([long]1), 'x'); 'c' = $null; 'd e' = ([long]-2)}",
    );
    expect(() => psLiteral(Number.NaN)).toThrow(MsuError);
  });

  it.runIf(hasPsParser)('generated literals parse without errors in the PowerShell grammar', async () => {
    const value = { "o'k": ["a'b", 'c\u2019d', 1.5, false], 'x;y': { '$(calc)': "'; Remove-Item C:\\ -Recurse; '" } };
    const src = `$p = ${psLiteral(value)}\n`;
    expect(await psSyntaxErrors(src)).toEqual([]);
  });
});
