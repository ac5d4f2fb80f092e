/** Typed model of what `wimlib-imagex info --xml` tells about a WIM (contract shared by src/wim, drivers, plan). */
import type { WindowsArch } from '../cbs/identity.js';
export type { WindowsArch } from '../cbs/identity.js';

export interface WimImage {
  index: number;
  name: string;
  description?: string;
  /** EDITIONID, e.g. Professional, ServerDatacenter. */
  edition?: string;
  /** INSTALLATIONTYPE, e.g. Client, Server, WindowsPE. */
  installationType?: string;
  arch: WindowsArch;
  /** major.minor.build.spbuild (UBR) as recorded in the image XML, e.g. 10.0.19041.1288; three parts when the XML has no SPBUILD. */
  version?: string;
  languages: string[];
  defaultLanguage?: string;
  fileCount?: number;
  directoryCount?: number;
  totalBytes?: number;
  /** FLAGS, the edition as setup shows it in some media (e.g. Professional). */
  flags?: string;
  displayName?: string;
  /** WINDOWS/PRODUCTNAME, e.g. Microsoft® Windows® Operating System. */
  productName?: string;
  /** WINDOWS/PRODUCTTYPE, e.g. WinNT, ServerNT. */
  productType?: string;
  hardLinkBytes?: number;
}

export interface WimInfo {
  /** As the user named it. */
  file: string;
  size: number;
  imageCount: number;
  compression?: string;
  bootIndex?: number;
  /** Compression chunk size in bytes. */
  chunkSize?: number;
  /** Split WIM: this part's number and the total (1/1 for a standalone WIM). */
  partNumber?: number;
  totalParts?: number;
  images: WimImage[];
}
