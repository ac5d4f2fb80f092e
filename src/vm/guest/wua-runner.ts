/**
 * Path B guest: Windows Update (WUA COM API) in an Audit Mode image, over as many reboots
 * as it takes. Produces the constant runner script, its JSON parameters, the SYSTEM
 * startup task that runs it on every boot, and the Panther unattend.xml that (a) keeps
 * the machine in Audit Mode (oobeSystem Reseal Mode=Audit, the safety net for a CU that
 * heads for OOBE) and (b) registers the task from auditUser RunSynchronous.
 */
import { UsageError } from '../../errors.js';
import { canonicalJson } from '../../util/json.js';
import { WUA_RUNNER_PS1 } from './wua-runner.ps1.js';

/** Where everything lives in the guest: a folder nothing cleans up between rounds. */
export const GUEST_DIR = 'C:\\ProgramData\\msu-toolkit';
export const GUEST_FILES = {
  runner: 'wua-runner.ps1',
  params: 'wua-params.json',
  task: 'wua-task.xml',
} as const;
export const TASK_FOLDER = 'msu-toolkit';
export const TASK_NAME = 'wua-runner';

/** One include/exclude rule; it matches an update when every field it sets matches. */
export interface WuaFilter {
  /** KB article number, with or without the "KB" prefix. */
  kb?: string;
  /** .NET regular expression over the update title (case-insensitive). */
  title?: string;
  /** Category name (e.g. "Security Updates") or CategoryID GUID. */
  category?: string;
  /** Identity.UpdateID GUID. */
  updateId?: string;
}

/** One update the rules allow, as the guest gets it. */
export interface OfflineAllowed {
  updateId: string;
  kb: string | null;
  title: string | null;
  /** The rule that selected it (docs/scancab.md). */
  reason: string;
}

/** What the host hands the guest runner (wua-params.json `offline`), all data. */
export interface OfflineParams {
  label: string;
  cab: string;
  payloadDir: string;
  /** Sorted by UpdateId. */
  allowed: OfflineAllowed[];
  /** UpdateId (bundle or leaf) → the payload file names for IUpdate2::CopyToCache, sorted. */
  payloads: Record<string, string[]>;
}

export interface WuaRunnerOptions {
  runId: string;
  /** IUpdateSearcher criteria. Default: software updates not installed and not hidden. */
  criteria?: string;
  include?: WuaFilter[];
  exclude?: WuaFilter[];
  /** Install rounds (one per boot) before giving up with max-rounds. */
  maxRounds?: number;
  /** At most this many updates per round. */
  updateLimit?: number;
  searchRetries?: number;
  downloadRetries?: number;
  retryDelaySec?: number;
  dnsHost?: string;
  dnsRetries?: number;
  dnsDelaySec?: number;
  heartbeatSec?: number;
  /** How long to wait for TiWorker to go idle before the pending-reboot check. */
  tiWorkerWaitSec?: number;
  /** Reboots in a row for a pending reboot before failing with reboot-loop. */
  maxPendingReboots?: number;
  /** How long to wait while another installation keeps the installer busy (IUpdateInstaller.IsBusy). */
  installerBusyWaitSec?: number;
  /** Reboots to retry an Install() call that threw or found the installer busy, before install-failed. */
  maxInstallRetries?: number;
  /** Fail with audit-lost when the image is no longer in Audit Mode (default true). */
  requireAudit?: boolean;
  /** Set Disabled update services to Manual instead of failing (default true). */
  fixDisabledServices?: boolean;
  /** DISM /Online /Cleanup-Image /StartComponentCleanup when no updates are left (default true). */
  cleanup?: boolean;
  /** ...with /ResetBase (default false: keeps updates uninstallable). */
  resetBase?: boolean;
  unregisterTaskWhenDone?: boolean;
  /**
   * Remove the injected Panther\unattend.xml at the end and put back the one it replaced
   * (default true: the image boots as it did before the run).
   */
  removeUnattendWhenDone?: boolean;
  /** Status disk volume label (the host's FAT status disk). */
  statusLabel?: string;
  /** Optional Hyper-V KVP host version values written under Guest\Parameters. */
  kvp?: { hostSystemOSMajor: number; hostSystemOSMinor: number };
  /** Processor architecture for unattend components. */
  arch?: 'amd64' | 'x86' | 'arm64';
  /** Offline scan (src/vm/wua-offline.ts): search the scan cabinet on the medium, install only these, from its files. */
  offline?: OfflineParams;
}

export interface WuaRunnerFiles {
  runnerPs1: string;
  unattendXml: string;
  /** Task Scheduler XML; declared UTF-16: write it as UTF-16LE with a BOM (see encodeTaskXml). */
  taskXml: string;
  paramsJson: string;
}

/**
 * Software updates not installed, not hidden, and not optional: BrowseOnly=0 leaves out the
 * updates Windows Update itself only offers (previews, optional updates) instead of installing.
 */
export const DEFAULT_CRITERIA = "IsInstalled=0 and IsHidden=0 and Type='Software' and BrowseOnly=0";
export const UPDATE_SERVICES = ['wuauserv', 'bits', 'cryptsvc', 'trustedinstaller'] as const;

const GUID_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

function int(v: number | undefined, def: number, min: number, max: number, what: string): number {
  const x = v ?? def;
  if (!Number.isInteger(x) || x < min || x > max) throw new UsageError(`${what} must be an integer ${min}..${max}, got ${x}`);
  return x;
}

function checkFilter(f: WuaFilter, where: string): WuaFilter {
  const out: WuaFilter = {};
  const keys = Object.keys(f);
  if (keys.length === 0) throw new UsageError(`${where}: an empty filter would match every update`);
  for (const k of keys) if (!['kb', 'title', 'category', 'updateId'].includes(k)) throw new UsageError(`${where}: unknown filter field ${JSON.stringify(k)}`);
  if (f.kb !== undefined) {
    const m = /^(?:KB)?([0-9]{4,8})$/i.exec(f.kb.trim());
    if (!m) throw new UsageError(`${where}: ${JSON.stringify(f.kb)} is not a KB number (KB1234567)`);
    out.kb = m[1]!;
  }
  if (f.updateId !== undefined) {
    if (!GUID_RE.test(f.updateId)) throw new UsageError(`${where}: ${JSON.stringify(f.updateId)} is not an UpdateID GUID`);
    out.updateId = f.updateId.toLowerCase();
  }
  if (f.title !== undefined) {
    if (f.title.length === 0 || f.title.length > 500) throw new UsageError(`${where}: title pattern must be 1..500 characters`);
    try {
      new RegExp(f.title);
    } catch {
      throw new UsageError(`${where}: title pattern ${JSON.stringify(f.title)} is not a valid regular expression`);
    }
    out.title = f.title;
  }
  if (f.category !== undefined) {
    if (f.category.length === 0 || f.category.length > 200) throw new UsageError(`${where}: category must be 1..200 characters`);
    out.category = f.category;
  }
  return out;
}

const PLAIN_FILE = /^[^/\\:*?"<>|\u0000-\u001f]{1,255}$/;

function checkOffline(o: OfflineParams, runId: string): Record<string, unknown> {
  if (!/^[A-Z0-9_]{1,11}$/.test(o.label)) throw new UsageError(`offline medium label ${JSON.stringify(o.label)} must be 1-11 of A-Z 0-9 _`);
  for (const n of [o.cab, o.payloadDir]) if (!PLAIN_FILE.test(n) || n === '.' || n === '..') throw new UsageError(`offline medium name ${JSON.stringify(n)} is not a plain file name`);
  if (o.allowed.length === 0) throw new UsageError('the offline scan allows no update');
  const allowed = o.allowed.map((a) => {
    if (!GUID_RE.test(a.updateId)) throw new UsageError(`allowed update ${JSON.stringify(a.updateId)} is not an UpdateID GUID`);
    if (a.kb !== null && !/^[0-9]{1,10}$/.test(a.kb)) throw new UsageError(`allowed update ${a.updateId}: KB ${JSON.stringify(a.kb)} is not digits`);
    return { updateId: a.updateId.toLowerCase(), kb: a.kb, title: a.title, reason: a.reason };
  });
  const payloads: Record<string, string[]> = {};
  for (const [id, names] of Object.entries(o.payloads)) {
    if (!GUID_RE.test(id)) throw new UsageError(`payload owner ${JSON.stringify(id)} is not an UpdateID GUID`);
    for (const n of names) if (!PLAIN_FILE.test(n) || n === '.' || n === '..') throw new UsageError(`payload file name ${JSON.stringify(n)} is not a plain file name`);
    payloads[id.toLowerCase()] = [...names];
  }
  return { label: o.label, cab: o.cab, payloadDir: o.payloadDir, serviceName: `msu-toolkit offline scan ${runId}`, allowed, payloads };
}

/** The parameters the runner reads (every key present: the script runs under Set-StrictMode). */
export function wuaParams(opts: WuaRunnerOptions): Record<string, unknown> {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(opts.runId)) throw new UsageError(`run id ${JSON.stringify(opts.runId)} is not a plain id`);
  const criteria = opts.criteria ?? DEFAULT_CRITERIA;
  if (criteria.trim().length === 0 || criteria.length > 2000 || /[\r\n\u0000]/.test(criteria)) {
    throw new UsageError(`search criteria must be one line of 1..2000 characters`);
  }
  const statusLabel = opts.statusLabel ?? 'MSUSTATUS';
  if (!/^[A-Z0-9_]{1,11}$/.test(statusLabel)) throw new UsageError(`status label ${JSON.stringify(statusLabel)} must be 1-11 of A-Z 0-9 _`);
  const dnsHost = opts.dnsHost ?? 'download.windowsupdate.com';
  if (!/^[A-Za-z0-9.-]{1,253}$/.test(dnsHost)) throw new UsageError(`DNS probe host ${JSON.stringify(dnsHost)} is not a host name`);
  let kvp: Record<string, number> | null = null;
  if (opts.kvp) {
    kvp = {
      hostSystemOSMajor: int(opts.kvp.hostSystemOSMajor, 0, 0, 99, 'KVP HostSystemOSMajor'),
      hostSystemOSMinor: int(opts.kvp.hostSystemOSMinor, 0, 0, 99, 'KVP HostSystemOSMinor'),
    };
  }
  return {
    schema: 'msu-toolkit/wua-params@1',
    runId: opts.runId,
    criteria,
    include: (opts.include ?? []).map((f, i) => checkFilter(f, `include[${i}]`)),
    exclude: (opts.exclude ?? []).map((f, i) => checkFilter(f, `exclude[${i}]`)),
    maxRounds: int(opts.maxRounds, 8, 1, 100, 'maxRounds'),
    updateLimit: int(opts.updateLimit, 1000, 1, 10000, 'updateLimit'),
    searchRetries: int(opts.searchRetries, 6, 1, 100, 'searchRetries'),
    downloadRetries: int(opts.downloadRetries, 4, 1, 100, 'downloadRetries'),
    retryDelaySec: int(opts.retryDelaySec, 30, 1, 3600, 'retryDelaySec'),
    dnsHost,
    dnsRetries: int(opts.dnsRetries, 30, 1, 1000, 'dnsRetries'),
    dnsDelaySec: int(opts.dnsDelaySec, 10, 1, 600, 'dnsDelaySec'),
    heartbeatSec: int(opts.heartbeatSec, 60, 5, 3600, 'heartbeatSec'),
    tiWorkerWaitSec: int(opts.tiWorkerWaitSec, 1800, 0, 24 * 3600, 'tiWorkerWaitSec'),
    maxPendingReboots: int(opts.maxPendingReboots, 3, 1, 20, 'maxPendingReboots'),
    installerBusyWaitSec: int(opts.installerBusyWaitSec, 1800, 0, 24 * 3600, 'installerBusyWaitSec'),
    maxInstallRetries: int(opts.maxInstallRetries, 3, 1, 20, 'maxInstallRetries'),
    requireAudit: opts.requireAudit ?? true,
    fixDisabledServices: opts.fixDisabledServices ?? true,
    services: [...UPDATE_SERVICES],
    cleanup: opts.cleanup ?? true,
    resetBase: opts.resetBase ?? false,
    unregisterTaskWhenDone: opts.unregisterTaskWhenDone ?? true,
    removeUnattendWhenDone: opts.removeUnattendWhenDone ?? true,
    statusLabel,
    taskName: `\\${TASK_FOLDER}\\${TASK_NAME}`,
    kvp,
    noShutdown: false,
    offline: opts.offline ? checkOffline(opts.offline, opts.runId) : null,
  };
}

const xmlEscape = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');

/** SYSTEM (S-1-5-18), at boot, no time limit, one instance. */
export function wuaTaskXml(runId: string): string {
  const runner = `${GUEST_DIR}\\${GUEST_FILES.runner}`;
  return [
    '<?xml version="1.0" encoding="UTF-16"?>',
    '<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">',
    '  <RegistrationInfo>',
    `    <Description>${xmlEscape(`msu-toolkit Windows Update runner (run ${runId})`)}</Description>`,
    `    <URI>\\${TASK_FOLDER}\\${TASK_NAME}</URI>`,
    '  </RegistrationInfo>',
    '  <Triggers>',
    '    <BootTrigger>',
    '      <Enabled>true</Enabled>',
    '    </BootTrigger>',
    '  </Triggers>',
    '  <Principals>',
    '    <Principal id="Author">',
    '      <UserId>S-1-5-18</UserId>',
    '      <RunLevel>HighestAvailable</RunLevel>',
    '    </Principal>',
    '  </Principals>',
    '  <Settings>',
    '    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>',
    '    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>',
    '    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>',
    '    <AllowHardTerminate>true</AllowHardTerminate>',
    '    <StartWhenAvailable>true</StartWhenAvailable>',
    '    <RunOnlyIfNetworkAvailable>false</RunOnlyIfNetworkAvailable>',
    '    <IdleSettings>',
    '      <StopOnIdleEnd>false</StopOnIdleEnd>',
    '      <RestartOnIdle>false</RestartOnIdle>',
    '    </IdleSettings>',
    '    <AllowStartOnDemand>true</AllowStartOnDemand>',
    '    <Enabled>true</Enabled>',
    '    <Hidden>false</Hidden>',
    '    <RunOnlyIfIdle>false</RunOnlyIfIdle>',
    '    <WakeToRun>false</WakeToRun>',
    // the default limit (72 h) would kill a long install; PT0S = none
    '    <ExecutionTimeLimit>PT0S</ExecutionTimeLimit>',
    '    <Priority>7</Priority>',
    '  </Settings>',
    '  <Actions Context="Author">',
    '    <Exec>',
    '      <Command>C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe</Command>',
    `      <Arguments>-NoProfile -NonInteractive -ExecutionPolicy Bypass -File "${runner}"</Arguments>`,
    `      <WorkingDirectory>${GUEST_DIR}</WorkingDirectory>`,
    '    </Exec>',
    '  </Actions>',
    '</Task>',
    '',
  ].join('\r\n');
}

/** UTF-16LE with BOM, as the declaration says and schtasks /XML expects. */
export function encodeTaskXml(xml: string): Uint8Array {
  const body = Buffer.from(xml, 'utf16le');
  return new Uint8Array(Buffer.concat([Buffer.from([0xff, 0xfe]), body]));
}

/**
 * Panther unattend.xml. oobeSystem Reseal Mode=Audit bounces a machine heading for OOBE
 * back to auditSystem. auditUser RunSynchronous (re)registers the task only if it is
 * missing, then starts it (ignored while it runs: MultipleInstancesPolicy IgnoreNew).
 * Reseal is never put in auditUser: that restarts the machine on every audit boot.
 */
export function wuaUnattendXml(arch: 'amd64' | 'x86' | 'arm64' = 'amd64'): string {
  const comp = `name="Microsoft-Windows-Deployment" processorArchitecture="${arch}" publicKeyToken="31bf3856ad364e35" language="neutral" versionScope="nonSxS"`;
  const task = `${TASK_FOLDER}\\${TASK_NAME}`;
  const xml = `${GUEST_DIR}\\${GUEST_FILES.task}`;
  const cmds = [
    {
      desc: 'Register the msu-toolkit Windows Update runner task (once)',
      path: `cmd.exe /c schtasks.exe /Query /TN ${task} >nul 2>&1 || schtasks.exe /Create /TN ${task} /XML ${xml}`,
    },
    { desc: 'Start the msu-toolkit Windows Update runner task', path: `schtasks.exe /Run /TN ${task}` },
  ];
  return [
    '<?xml version="1.0" encoding="utf-8"?>',
    '<unattend xmlns="urn:schemas-microsoft-com:unattend" xmlns:wcm="http://schemas.microsoft.com/WMIConfig/2002/State">',
    '  <settings pass="oobeSystem">',
    `    <component ${comp}>`,
    '      <Reseal>',
    '        <Mode>Audit</Mode>',
    '      </Reseal>',
    '    </component>',
    '  </settings>',
    '  <settings pass="auditUser">',
    `    <component ${comp}>`,
    '      <RunSynchronous>',
    ...cmds.flatMap((c, i) => [
      '        <RunSynchronousCommand wcm:action="add">',
      `          <Order>${i + 1}</Order>`,
      `          <Description>${xmlEscape(c.desc)}</Description>`,
      `          <Path>${xmlEscape(c.path)}</Path>`,
      '        </RunSynchronousCommand>',
    ]),
    '      </RunSynchronous>',
    '    </component>',
    '  </settings>',
    '</unattend>',
    '',
  ].join('\r\n');
}

export function generateWuaRunner(opts: WuaRunnerOptions): WuaRunnerFiles {
  const params = wuaParams(opts);
  if (opts.offline && ((opts.include?.length ?? 0) > 0 || (opts.exclude?.length ?? 0) > 0)) {
    throw new UsageError('with an offline scan the rules file selects the updates: --include and --exclude are not used with it');
  }
  return {
    runnerPs1: WUA_RUNNER_PS1.replace(/\r?\n/g, '\r\n'),
    unattendXml: wuaUnattendXml(opts.arch ?? 'amd64'),
    taskXml: wuaTaskXml(opts.runId),
    paramsJson: canonicalJson(params),
  };
}
