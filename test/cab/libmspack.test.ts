/**
 * libmspack's own CAB test suite (../shared/corpus/cab/libmspack) as a table test, with
 * cabextract run live as the oracle. For every file the outcome matches cabextract's:
 *   - cabextract finds no valid cabinet: we refuse to open it (one MsuError);
 *   - cabextract lists members: we list the same names and sizes;
 *   - cabextract extracts every member: we extract the same bytes;
 *   - cabextract fails on some member: we refuse the extraction and write nothing (all or
 *     nothing, where cabextract writes the members it could decode).
 * except for the deliberate differences in DIFFERENCES, each with its reason (docs/cab.md
 * lists the same ones).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Cabinet } from '../../src/cab/cabinet.js';
import { MsuError } from '../../src/errors.js';
import { corpusPath, hasCorpus } from '../helpers/corpus.js';
import { hasTool, skipNote } from '../helpers/tools.js';

type Outcome =
  | { kind: 'refused'; code: string }
  | { kind: 'listed'; members: string[]; extracted: Record<string, string> | null; extractCode?: string };

/** Where we differ from cabextract on purpose: what we do instead, and why. */
const DIFFERENCES: Record<string, { ours: 'refuse-open' | 'refuse-extract'; code: string; why: string }> = {
  'cve-2014-9556-qtm-infinite-loop.cab': { ours: 'refuse-open', code: 'E_CAB', why: 'stricter: a member of 4 GiB at offset 255 cannot fit in any folder; cabextract lists it and fails to extract it' },
  'cve-2014-9732-folders-segfault.cab': { ours: 'refuse-extract', code: 'E_CAB_METHOD', why: 'all or nothing: cabextract writes members 1 and 3 and fails member 2 (unknown compression)' },
  'cve-2015-4470-mszip-over-read.cab': { ours: 'refuse-open', code: 'E_CAB_VERSION', why: 'stricter: format version 129.3 (only 1.x exists); cabextract lists it and fails to extract' },
  'filename-read-violation-2.cab': { ours: 'refuse-open', code: 'E_CAB', why: 'stricter: cbCabinet is larger than the file; cabextract lists a garbage member and extracts nothing' },
  'filename-read-violation-3.cab': { ours: 'refuse-open', code: 'E_CAB', why: 'stricter: the folder\'s data offset lies outside the cabinet; cabextract lists and fails to extract' },
  'filename-read-violation-4.cab': { ours: 'refuse-open', code: 'E_CAB', why: 'stricter: the folder\'s data blocks do not fit in the cabinet; cabextract lists and fails to extract' },
  'hidden-files.cab': { ours: 'refuse-open', code: 'E_CAB', why: 'stricter: a gap between the CFFOLDER table and coffFiles; cabextract reads the entries after the folders, the specification those at coffFiles, so the two would show different files' },
  'mszip_lzx_qtm.cab': { ours: 'refuse-extract', code: 'E_CAB_QUANTUM', why: 'Quantum compression is not implemented (no Windows update uses it); cabextract extracts all three members' },
  'multi_basic_pt1.cab': { ours: 'refuse-open', code: 'E_CAB_SET_INCOMPLETE', why: 'incomplete set (the parts were renamed from cabd_multi_basic_ptN.cab); cabextract lists the members and fails to extract them' },
  'multi_basic_pt2.cab': { ours: 'refuse-open', code: 'E_CAB_SET_INCOMPLETE', why: 'incomplete set, as above' },
  'multi_basic_pt3.cab': { ours: 'refuse-open', code: 'E_CAB_SET_INCOMPLETE', why: 'incomplete set, as above' },
  'multi_basic_pt4.cab': { ours: 'refuse-open', code: 'E_CAB_SET_INCOMPLETE', why: 'incomplete set, as above' },
  'multi_basic_pt5.cab': { ours: 'refuse-open', code: 'E_CAB_SET_INCOMPLETE', why: 'incomplete set, as above' },
  'search_basic.cab': { ours: 'refuse-open', code: 'E_CAB', why: 'no search for cabinets embedded in other data: a cabinet starts at byte 0 (cabextract finds two cabinets inside)' },
  'search_tricky1.cab': { ours: 'refuse-open', code: 'E_CAB_VERSION', why: 'no search for embedded cabinets, as above' },
};

const root = mkdtempSync(path.join(os.tmpdir(), 'msu-libmspack-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const md5 = (b: Uint8Array): string => createHash('md5').update(b).digest('hex');

function walk(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!existsSync(dir)) return out;
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (e.isFile()) out[path.relative(dir, path.join(e.parentPath, e.name)).split(path.sep).join('/')] = md5(readFileSync(path.join(e.parentPath, e.name)));
  }
  return out;
}

let n = 0;
/** cabextract's outcome: its listing, and what it extracts when every member succeeds (null when one fails). */
function oracle(file: string): Outcome {
  const l = spawnSync('cabextract', ['-l', file], { encoding: 'latin1' });
  const text = l.stdout + l.stderr;
  if (/no valid cabinets found/.test(text)) return { kind: 'refused', code: 'cabextract' };
  const members = text.split('\n').filter((x) => / \| /.test(x) && !/File size/.test(x)).map((x) => {
    const [size, , name] = x.split(' | ');
    return `${name!.trim()}:${Number(size!.trim())}`;
  });
  const dir = path.join(root, `oracle${n++}`);
  const x = spawnSync('cabextract', ['-q', '-d', dir, file], { encoding: 'latin1' });
  return { kind: 'listed', members, extracted: x.status === 0 ? walk(dir) : null };
}

async function ours(file: string): Promise<Outcome> {
  let cab: Cabinet;
  try {
    cab = await Cabinet.openFile(file);
  } catch (e) {
    if (!(e instanceof MsuError)) throw e;
    // the CLI prints `msu: FILE: problem`: a refusal always names the cabinet
    expect(e.file, `${path.basename(file)}: ${e.message}`).toBe(file);
    return { kind: 'refused', code: e.code };
  }
  try {
    const members = cab.entries.map((e) => `${e.name}:${e.cbFile}`);
    const dir = path.join(root, `ours${n++}`);
    mkdirSync(dir);
    try {
      await cab.extract(dir);
      return { kind: 'listed', members, extracted: walk(dir) };
    } catch (e) {
      if (!(e instanceof MsuError)) throw e;
      expect(readdirSync(dir), `${path.basename(file)}: partial output`).toEqual([]);
      return { kind: 'listed', members, extracted: null, extractCode: e.code };
    }
  } finally {
    await cab.close();
  }
}

const dir = corpusPath('cab', 'libmspack');
const files = hasCorpus ? readdirSync(dir).filter((f) => f.endsWith('.cab')).sort() : [];
const oracleHere = hasTool('cabextract');

describe.skipIf(!hasCorpus)("libmspack's CAB test suite against cabextract", () => {
  it('holds the files this table was written for', () => {
    expect(files.length).toBe(57);
    for (const f of Object.keys(DIFFERENCES)) expect(files).toContain(f);
  });

  it.each(files)('%s', async (f) => {
    const file = path.join(dir, f);
    const got = await ours(file);
    const diff = DIFFERENCES[f];
    if (diff) {
      if (diff.ours === 'refuse-open') expect(got).toEqual({ kind: 'refused', code: diff.code });
      else expect(got).toMatchObject({ kind: 'listed', extracted: null, extractCode: diff.code });
    }
    if (!oracleHere) {
      if (f === files[0]) skipNote('libmspack table: comparison with cabextract', 'cabextract');
      return;
    }
    const want = oracle(file);
    if (diff) {
      // still a difference: cabextract does list (and for refuse-extract, lists the same members)
      expect(want.kind, `${f}: cabextract now refuses it too; drop it from DIFFERENCES`).toBe('listed');
      if (diff.ours === 'refuse-extract' && got.kind === 'listed' && want.kind === 'listed') expect(got.members).toEqual(want.members);
      return;
    }
    if (want.kind === 'refused') {
      expect(got.kind, `${f}: cabextract finds no valid cabinet`).toBe('refused');
      return;
    }
    expect(got.kind).toBe('listed');
    if (got.kind !== 'listed') return;
    expect(got.members).toEqual(want.members);
    if (want.extracted) expect(got.extracted).toEqual(want.extracted);
    else expect(got.extracted, `${f}: cabextract fails a member, so we must write nothing`).toBeNull();
  });
});
