/**
 * The live progress line (src/cli/context.ts) on a terminal and without one. A small terminal
 * model replays what stdout and stderr wrote, in order, and gives the rows a person would see.
 */
import { describe, expect, it } from 'vitest';
import { makeContext } from '../../src/cli/context.js';
import { Terminal, TermStream } from '../helpers/terminal.js';

function terminal(columns = 80) {
  const term = new Terminal();
  const out = new TermStream(term, true, columns);
  const err = new TermStream(term, true, columns);
  return { term, out, err, ctx: makeContext(out, err) };
}

describe('progress on a terminal', () => {
  it('the live line is cleared before output, so it never runs into it', () => {
    const { term, ctx } = terminal();
    ctx.progress('extracting 600/600 k4_f99.txt');
    ctx.print('extracted 600 file(s)');
    expect(term.screen).toEqual(['extracted 600 file(s)']);
  });

  it('printJson, info and warn clear it too; the next progress draws a fresh line', () => {
    const { term, ctx } = terminal();
    ctx.event('boot 1: Install KB5034441 (running) · 0:12');
    ctx.warn('no KVM');
    ctx.event('boot 1: done · 0:20');
    ctx.info('deadlines: boot 7.5 h');
    ctx.event('shutdown · 0:21');
    ctx.printJson({ ok: true });
    expect(term.screen).toEqual(['msu: warning: no KVM', 'msu: deadlines: boot 7.5 h', '{', '  "ok": true', '}']);
  });

  it('a line wider than the terminal is cut to fit (a wrapped line cannot be cleared with \\r)', () => {
    const { term, err, ctx } = terminal(20);
    ctx.event('boot 1: a very long step name that goes on');
    expect(term.screen).toEqual(['boot 1: a very lon…']);
    expect(term.screen[0]!.length).toBeLessThan(err.columns);
    ctx.clearProgress();
    expect(term.screen).toEqual([]);
  });

  it('a terminal that reports 0 columns (a pseudo-terminal not yet sized) gets lines cut at 80, not only the ellipsis', () => {
    const { term, ctx } = terminal(0);
    ctx.progress('extracting 3/600 a.txt');
    expect(term.screen).toEqual(['extracting 3/600 a.txt']);
    ctx.event('x'.repeat(100));
    expect(term.screen).toEqual(['x'.repeat(78) + '…']);
  });
});

describe('progress without a terminal', () => {
  it('progress() writes nothing; event() writes one plain line per event; output is untouched', () => {
    const term = new Terminal();
    const out = new TermStream(term, false);
    const errTerm = new Terminal();
    const err = new TermStream(errTerm, false);
    const ctx = makeContext(out, err);
    ctx.progress('extracting 1/2 a.txt');
    ctx.event('[ 0:01] start 1: QEMU started');
    ctx.event('[ 0:02] boot 1: guest is up');
    ctx.print('ok');
    expect(errTerm.screen).toEqual(['[ 0:01] start 1: QEMU started', '[ 0:02] boot 1: guest is up']);
    expect(term.screen).toEqual(['ok']);
    expect(ctx.live).toBe(false);
  });
});
