/** Typed model of what `wimlib-imagex info --xml` tells about a WIM (contract shared by src/wim, drivers, plan). */
export type WindowsArch = 'x86' | 'amd64' | 'arm64' | 'arm' | 'ia64' | 'unknown';

export interface WimImage {
  index: number;
  name: string;
  description?: string;
  /** EDITIONID, e.g. Professional, ServerDatacenter. */
  edition?: string;
  /** INSTALLATIONTYPE, e.g. Client, Server, WindowsPE. */
  installationType?: string;
  arch: WindowsArch;
  /** major.minor.build.spbuild (UBR) as recorded in the image XML, e.g. 10.0.19041.1288 */
  version?: string;
  languages: string[];
  defaultLanguage?: string;
  fileCount?: number;
  directoryCount?: number;
  totalBytes?: number;
}

export interface WimInfo {
  /** As the user named it. */
  file: string;
  size: number;
  imageCount: number;
  compression?: string;
  bootIndex?: number;
  images: WimImage[];
}
