import { describe, expect, it } from 'vitest';
import { DEFAULT_CRITERIA, encodeTaskXml, generateWuaRunner, wuaParams, wuaUnattendXml } from '../../src/vm/guest/wua-runner.js';
import { parseXml, type XmlElement } from '../../src/util/xml.js';
import { MsuError } from '../../src/errors.js';
import { hasPsParser, psCommands, psFind, psFunctions, psMembers, psSyntaxErrors, psTree, type PsNode } from '../helpers/ps-syntax.js';
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
    // optional and preview offers (BrowseOnly=1) are never installed by default
    expect(p.criteria).toBe("IsInstalled=0 and IsHidden=0 and Type='Software' and BrowseOnly=0");
    expect(p.criteria).toBe(DEFAULT_CRITERIA);
    expect(JSON.parse(generateWuaRunner({ runId: 'x', criteria: 'IsInstalled=0' }).paramsJson).criteria).toBe('IsInstalled=0');
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

describe('the runner does what Windows documents (issue 12), checked on the parsed script', () => {
  if (!hasPsParser) skipNote('runner structure checks', 'tree-sitter-powershell (npm devDependency)');
  const src = generateWuaRunner(OPTS).runnerPs1;
  const fn = async (name: string): Promise<PsNode> => {
    const f = psFunctions(await psTree(src)).get(name);
    if (!f) throw new Error(`no function ${name}`);
    return f;
  };
  /** The statements of the script's top level (outside functions), as parsed. */
  const topIfs = async (): Promise<PsNode[]> => {
    const root = await psTree(src);
    return psFind(root, 'if_statement').filter((n) => !psFind(root, 'function_statement').some((f) => f.text.includes(n.text)));
  };

  it.runIf(hasPsParser)('HRESULTs come from the base exception, not from the MethodInvocationException wrapper', async () => {
    const f = await fn('Format-HResult');
    expect(psMembers(f)).toContain('GetBaseException');
    expect(psMembers(f).filter((m) => m === 'HResult')).toHaveLength(1);
    // the old form read the wrapper's own HResult
    expect(f.text).not.toMatch(/\$ErrorRecord\.Exception\.HResult/);
    // every COM failure path formats through it
    const round = await fn('Invoke-Round');
    expect(psCommands(round).filter((c) => c === 'Format-HResult').length).toBeGreaterThanOrEqual(2);
  });

  it.runIf(hasPsParser)('exclusive updates install alone, a busy installer is waited for (bounded), and a throwing Install() means reboot and retry, counted', async () => {
    const batch = await fn('Select-InstallBatch');
    expect(psMembers(batch)).toEqual(expect.arrayContaining(['InstallationBehavior', 'Impact']));
    // InstallationImpact 2 = RequiresExclusiveHandling; only the first such update goes in the batch
    expect(batch.text).toMatch(/\[int\]\$_\.InstallationBehavior\.Impact -eq 2/);
    expect(batch.text).toContain('return ,@($exclusive[0])');
    const wait = await fn('Wait-InstallerIdle');
    const loops = psFind(wait, 'while_statement');
    expect(loops).toHaveLength(1);
    expect(psMembers(loops[0]!)).toContain('IsBusy');
    expect(loops[0]!.text).toMatch(/-ge \$deadline\) \{ return \$false \}/);
    const round = await fn('Invoke-Round');
    const cmds = psCommands(round);
    // the batch is chosen, the installer is waited for, then Install() runs on the batch only
    expect(cmds.indexOf('Select-InstallBatch')).toBeGreaterThan(-1);
    expect(cmds.indexOf('Wait-InstallerIdle')).toBeGreaterThan(cmds.indexOf('Select-InstallBatch'));
    expect(round.text).toContain('foreach ($u in $batch) { [void]$coll.Add($u) }');
    const tries = psFind(round, 'try_statement').filter((t) => psMembers(t.children.find((c) => c.type === 'statement_block')!).includes('Install'));
    expect(tries).toHaveLength(1);
    const katch = psFind(tries[0]!, 'catch_clause');
    expect(katch).toHaveLength(1);
    expect(psCommands(katch[0]!)).toEqual(['Invoke-InstallRetry', 'Format-HResult']);
    const retry = await fn('Invoke-InstallRetry');
    expect(psCommands(retry)).toEqual(['Save-State', 'Fail', 'Send-Event', 'Restart-ForNextRound']);
    expect(retry.text).toMatch(/installRetries -gt \[int\]\$script:P\.maxInstallRetries/);
    const p = JSON.parse(generateWuaRunner(OPTS).paramsJson) as Record<string, unknown>;
    expect([p.installerBusyWaitSec, p.maxInstallRetries]).toEqual([1800, 3]);
  });

  it.runIf(hasPsParser)('a finished run powers off only with its own status disk attached; otherwise it removes its task and stays up', async () => {
    const own = await fn('Test-OwnStatusDisk');
    expect(psCommands(own)).toEqual(expect.arrayContaining(['Get-StatusDir', 'Get-Content', 'ConvertFrom-Json']));
    expect(own.text).toContain("[string]$p.id -eq [string]$script:P.runId");
    const finished = (await topIfs()).find((n) => n.text.startsWith('if ($script:State.finished)'));
    expect(finished).toBeDefined();
    const inner = psFind(finished!, 'if_statement').filter((n) => n !== finished);
    const guarded = inner.find((n) => psCommands(n).includes('Test-OwnStatusDisk'))!;
    expect(psCommands(guarded)).toEqual(['Test-OwnStatusDisk', 'Complete-Run']);
    // what runs without the status disk: no shutdown anywhere on that path
    const rest = finished!.text.replace(guarded.text, '');
    expect(rest).not.toMatch(/Complete-Run|Invoke-Shutdown|shutdown\.exe|Restart-ForNextRound/);
    expect(rest).toMatch(/Remove-RunnerTask[\s\S]*exit 0/);
    // a successful run leaves the image as it was: settings restored, task and injected unattend removed
    const complete = await fn('Complete-Run');
    const okBranch = psFind(complete, 'if_statement').filter((n) => n.text.startsWith('if ($Ok) {')).sort((a, b) => b.text.length - a.text.length)[0]!;
    expect(psCommands(okBranch)).toEqual(['Restore-Settings', 'Remove-RunnerTask', 'Remove-InjectedUnattend']);
    const unattend = await fn('Remove-InjectedUnattend');
    expect(unattend.text).toContain("Join-Path $Root 'backup\\unattend.xml'");
    expect(psCommands(unattend)).toEqual(['Join-Path', 'Join-Path', 'Remove-Item', 'Test-Path', 'Copy-Item', 'Write-Log']);
    expect(JSON.parse(generateWuaRunner(OPTS).paramsJson).removeUnattendWhenDone).toBe(true);
  });

  it.runIf(hasPsParser)('settings the run changes (UseWUServer, standby, hibernation, disabled services) are recorded first and restored at the end', async () => {
    const pre = await fn('Invoke-Preflight');
    const cmds = psCommands(pre);
    expect(cmds.indexOf('Save-Settings')).toBeGreaterThan(-1);
    expect(cmds.indexOf('Save-Settings')).toBeLessThan(cmds.indexOf('powercfg.exe'));
    expect(cmds.indexOf('Save-Settings')).toBeLessThan(cmds.indexOf('Set-ItemProperty'));
    const save = await fn('Save-Settings');
    for (const needle of ["'UseWUServer'", "'HibernateEnabled'", 'STANDBYIDLE', 'Current AC Power Setting Index']) expect(save.text).toContain(needle);
    // recorded once: a later boot must not record the values the run itself set
    expect(save.text).toMatch(/^function Save-Settings \{\s+#[^\n]*\n\s+if \(\$null -ne \$script:State\.restore\) \{ return \}/);
    const restore = await fn('Restore-Settings');
    expect(psCommands(restore)).toEqual(expect.arrayContaining(['Remove-ItemProperty', 'Set-ItemProperty', 'powercfg.exe', 'Set-Service']));
    expect(restore.text).toContain('/setacvalueindex SCHEME_CURRENT SUB_SLEEP STANDBYIDLE');
    expect(restore.text).toContain('/hibernate on');
    expect(restore.text).toContain('-StartupType Disabled');
    expect(pre.text).toContain('$script:State.restore.services = @($script:State.restore.services) + @([string]$svc.Name)');
  });

  it('the unattend names the image architecture it is given', () => {
    for (const arch of ['amd64', 'x86', 'arm64'] as const) {
      const root = parseXml(wuaUnattendXml(arch), 'unattend.xml');
      const comps = find(root, 'component');
      expect(comps).toHaveLength(2);
      for (const c of comps) expect(c.attrs.processorArchitecture).toBe(arch);
    }
    expect(generateWuaRunner({ runId: 'x', arch: 'arm64' }).unattendXml).toContain('processorArchitecture="arm64"');
  });
});
