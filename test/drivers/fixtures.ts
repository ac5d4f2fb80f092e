import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export interface SndInfOptions {
  /** Manufacturer decorations, e.g. 'NTamd64' or '' for none. */
  decorations?: string;
  hardwareId?: string;
  compatibleIds?: string[];
  catalog?: string | null;
  startType?: number;
  extraStrings?: string;
  extraLines?: string;
}

/** A small virtio-snd style INF, written from the INF reference, in the shape the checker expects. */
export function sndInf(o: SndInfOptions = {}): string {
  const deco = o.decorations ?? 'NTamd64.10.0...16299';
  const models = deco === '' ? 'Snd' : `Snd.${deco.split(',')[0]!.trim()}`;
  const ids = [o.hardwareId ?? 'PCI\\VEN_1AF4&DEV_1059&SUBSYS_11001AF4&REV_01', ...(o.compatibleIds ?? ['PCI\\VEN_1AF4&DEV_1059'])];
  return [
    '; test INF',
    '[Version]',
    'Signature="$WINDOWS NT$"',
    'Class=MEDIA',
    'ClassGuid={4d36e96c-e325-11ce-bfc1-08002be10318}',
    'Provider=%Mfg%',
    'DriverVer=03/15/2024,1.2.3.4',
    ...(o.catalog === null ? [] : [`CatalogFile=${o.catalog ?? 'vsnd.cat'}`]),
    'PnpLockdown=1',
    '',
    '[Manufacturer]',
    `%Mfg%=Snd${deco === '' ? '' : `,${deco}`}`,
    '',
    `[${models}]`,
    `%Desc%=Snd_Install,${ids.join(',')}`,
    '',
    '[SourceDisksNames]',
    '1=%Disk%,,,""',
    '',
    '[SourceDisksFiles]',
    'vsnd.sys=1',
    '',
    '[DestinationDirs]',
    'DefaultDestDir=13',
    '',
    '[Snd_Install.NT]',
    'CopyFiles=Snd_Files',
    '',
    '[Snd_Files]',
    'vsnd.sys',
    '',
    '[Snd_Install.NT.Services]',
    'AddService=vsnd,0x00000002,Snd_Service',
    '',
    '[Snd_Service]',
    'ServiceType=1',
    `StartType=${o.startType ?? 3}`,
    'ErrorControl=1',
    'ServiceBinary=%13%\\vsnd.sys',
    ...(o.extraLines ? [o.extraLines] : []),
    '',
    '[Strings]',
    'Mfg="Example Audio"',
    'Desc="Virtio sound device"',
    'Disk="Disk 1"',
    ...(o.extraStrings ? [o.extraStrings] : []),
    '',
  ].join('\r\n');
}

const made: string[] = [];

/** Write files (relative name → content) into a fresh temp folder. */
export async function makePackage(files: Record<string, string | Uint8Array>): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'msu-drv-'));
  made.push(dir);
  for (const [name, content] of Object.entries(files)) {
    const p = path.join(dir, name);
    await mkdir(path.dirname(p), { recursive: true });
    await writeFile(p, content);
  }
  return dir;
}

export async function cleanupPackages(): Promise<void> {
  await Promise.all(made.splice(0).map((d) => rm(d, { recursive: true, force: true })));
}

/** UTF-16LE with a BOM, as Windows tools often save INFs. */
export function utf16le(text: string): Uint8Array {
  const body = Buffer.from(text, 'utf16le');
  return Buffer.concat([Buffer.from([0xff, 0xfe]), body]);
}
