import { describe, expect, it } from 'vitest';
import { encodeTaskXml, generateWuaRunner, wuaParams } from '../../src/vm/guest/wua-runner.js';
import { parseXml, type XmlElement } from '../../src/util/xml.js';
import { MsuError } from '../../src/errors.js';
import { hasPsParser, psSyntaxErrors } from '../helpers/ps-syntax.js';
import { skipNote } from '../helpers/tools.js';
import { expectGolden } from '../helpers/golden.js';


const OPTS = {
  runId: 'golden-wua',
  include: [{ kb: 'KB5034441' }, { title: 'Cumulative Update.*x64', category: 'Security Updates' }],
  exclude: [{ updateId: '0D5D8B6B-1B3A-4E59-9B6E-1F0F2A0B9C11' }, { title: "Preview|it's" }],
  maxRounds: 5,
};

function find(root: XmlElement, name: string): XmlElement[] {
  const out: XmlElement[] = [];
  const walk = (e: XmlElement): void => {
    if (e.name === name) out.push(e);
    e.children.forEach(walk);
  };
  walk(root);
  return out;
}

describe('generateWuaRunner', () => {
  const files = generateWuaRunner(OPTS);

  it('matches the golden files exactly', () => {
    const pairs: Array<[string, string]> = [
      ['wua-runner.ps1', files.runnerPs1],
      ['wua-unattend.xml', files.unattendXml],
      ['wua-task.xml', files.taskXml],
      ['wua-params.json', files.paramsJson],
    ];
    for (const [name, content] of pairs) {
      expectGolden(name, content);
    }
  });

  it('puts data only in the params file, never in the script', () => {
    const p = JSON.parse(files.paramsJson) as Record<string, unknown>;
    expect(p.runId).toBe('golden-wua');
    expect(p.maxRounds).toBe(5);
    expect(p.include).toEqual([{ kb: '5034441' }, { category: 'Security Updates', title: 'Cumulative Update.*x64' }]);
    expect(p.exclude).toEqual([{ updateId: '0d5d8b6b-1b3a-4e59-9b6e-1f0f2a0b9c11' }, { title: "Preview|it's" }]);
    expect(p.services).toEqual(['wuauserv', 'bits', 'cryptsvc', 'trustedinstaller']);
    expect(p.criteria).toBe("IsInstalled=0 and IsHidden=0 and Type='Software'");
    for (const needle of ['golden-wua', '5034441', 'Preview', 'Security Updates']) expect(files.runnerPs1.includes(needle), needle).toBe(false);
    // the same script whatever the options
    expect(generateWuaRunner({ runId: 'other', criteria: 'IsInstalled=0' }).runnerPs1).toBe(files.runnerPs1);
  });

  it('runner has every required mechanism (terminal shutdown, trap, lock, audit check, loop detector, KVP, COM1)', () => {
    const s = files.runnerPs1;
    for (const needle of [
      "& shutdown.exe $Mode /t 0 /f",
      'trap {',
      "[System.IO.File]::Open($LockFile, 'OpenOrCreate', 'ReadWrite', 'None')",
      'HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Setup\\State',
      'HKLM:\\SYSTEM\\Setup\\Status\\SysprepStatus',
      "Fail 'audit-lost'",
      "Fail 'update-loop'",
      "Fail 'max-rounds'",
      "Fail 'search-failed'",
      "Fail 'network-down'",
      '$searcher.ServerSelection = 2',
      'Component Based Servicing',
      'PackagesPending',
      'Microsoft.Update.SystemInfo',
      'HKLM:\\SOFTWARE\\Microsoft\\Virtual Machine\\Guest\\Parameters',
      'System.IO.Ports.SerialPort',
      "'@@MSU '",
      '$u.AcceptEula()',
    ]) {
      expect(s.includes(needle), needle).toBe(true);
    }
    expect(s.includes('Remove-Item -LiteralPath $PSCommandPath')).toBe(false);
    expect(s).not.toMatch(/Remove-Item[^\n]*wua-runner\.ps1/);
    expect(s.split('\r\n').length).toBeGreaterThan(300);
    expect(s.includes('\n') && !/[^\r]\n/.test(s)).toBe(true);
  });

  it('refuses bad options with a typed usage error', () => {
    expect(() => wuaParams({ runId: 'x', include: [{ kb: 'KB12;calc' }] })).toThrow(/not a KB number/);
    expect(() => wuaParams({ runId: 'x', exclude: [{}] })).toThrow(/empty filter/);
    expect(() => wuaParams({ runId: 'x', exclude: [{ title: '(' }] })).toThrow(/not a valid regular expression/);
    expect(() => wuaParams({ runId: 'x', maxRounds: 0 })).toThrow(MsuError);
    expect(() => wuaParams({ runId: 'a b' })).toThrow(/not a plain id/);
    expect(() => wuaParams({ runId: 'x', criteria: 'a\nb' })).toThrow(/one line/);
  });
});

describe('unattend.xml and task XML', () => {
  const files = generateWuaRunner(OPTS);

  it('unattend: Reseal Mode=Audit in oobeSystem only, RunSynchronous in auditUser registering the task', () => {
    const root = parseXml(files.unattendXml, 'unattend.xml');
    expect(root.name).toBe('unattend');
    const passes = root.children.filter((c) => c.name === 'settings').map((c) => c.attrs.pass);
    expect(passes).toEqual(['oobeSystem', 'auditUser']);
    const oobe = root.children.find((c) => c.attrs.pass === 'oobeSystem')!;
    expect(find(oobe, 'Mode').map((m) => m.text)).toEqual(['Audit']);
    const audit = root.children.find((c) => c.attrs.pass === 'auditUser')!;
    expect(find(audit, 'Reseal')).toEqual([]);
    const paths = find(audit, 'RunSynchronousCommand').map((c) => find(c, 'Path')[0]!.text);
    expect(paths).toEqual([
      'cmd.exe /c schtasks.exe /Query /TN msu-toolkit\\wua-runner >nul 2>&1 || schtasks.exe /Create /TN msu-toolkit\\wua-runner /XML C:\\ProgramData\\msu-toolkit\\wua-task.xml',
      'schtasks.exe /Run /TN msu-toolkit\\wua-runner',
    ]);
    expect(find(audit, 'Order').map((o) => o.text)).toEqual(['1', '2']);
  });

  it('task: SYSTEM principal, BootTrigger, no time limit, runs the runner from ProgramData', () => {
    const root = parseXml(files.taskXml, 'wua-task.xml');
    expect(root.name).toBe('Task');
    expect(find(root, 'UserId').map((u) => u.text)).toEqual(['S-1-5-18']);
    expect(find(root, 'BootTrigger')).toHaveLength(1);
    expect(find(root, 'LogonTrigger')).toHaveLength(0);
    expect(find(root, 'ExecutionTimeLimit')[0]!.text).toBe('PT0S');
    expect(find(root, 'MultipleInstancesPolicy')[0]!.text).toBe('IgnoreNew');
    expect(find(root, 'Arguments')[0]!.text).toBe('-NoProfile -NonInteractive -ExecutionPolicy Bypass -File "C:\\ProgramData\\msu-toolkit\\wua-runner.ps1"');
    const bytes = encodeTaskXml(files.taskXml);
    expect([...bytes.subarray(0, 4)]).toEqual([0xff, 0xfe, 0x3c, 0x00]);
    expect(Buffer.from(bytes.subarray(2)).toString('utf16le')).toBe(files.taskXml);
  });
});

describe('PowerShell syntax check', () => {
  if (!hasPsParser) skipNote('PowerShell syntax check', 'tree-sitter-powershell (npm devDependency)');

  it.runIf(hasPsParser)('the checker flags a deliberately broken script (proves the oracle)', async () => {
    const broken = 'function F {\n  if ($true) { Write-Output "x"\n}\n';
    const errs = await psSyntaxErrors(broken);
    expect(errs.length).toBeGreaterThan(0);
    const unterminated = await psSyntaxErrors("$a = 'it's'\n$b = @{ 'k' = 1 \n");
    expect(unterminated.length).toBeGreaterThan(0);
  });

  it.runIf(hasPsParser)('the real runner with one closing brace or quote removed is flagged', async () => {
    const src = generateWuaRunner(OPTS).runnerPs1;
    const noBrace = src.replace("  return @{ selected = $selected; skipped = $skipped }\r\n}", "  return @{ selected = $selected; skipped = $skipped }\r\n");
    expect(noBrace).not.toBe(src);
    expect((await psSyntaxErrors(noBrace)).length).toBeGreaterThan(0);
    const noQuote = src.replace("Fail 'audit-lost' ('Windows", "Fail 'audit-lost ('Windows");
    expect(noQuote).not.toBe(src);
    expect((await psSyntaxErrors(noQuote)).length).toBeGreaterThan(0);
  });

  it.runIf(hasPsParser)('the generated runner has no syntax errors', async () => {
    expect(await psSyntaxErrors(generateWuaRunner(OPTS).runnerPs1)).toEqual([]);
  });
});
