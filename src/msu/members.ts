/**
 * Roles of the members of an MSU bundle, decided by one table of name patterns
 * (docs/cbs.md, "MSU members"), matched case-insensitively on the member's base name.
 * The first matching rule wins, so specific patterns come before general ones.
 */
export type MemberRole =
  | 'lcu-payload'        // Windows1x.0-KB<n>-<arch>.cab|.wim: the CBS package (update.mum, manifests, cix)
  | 'psf'                // Windows1x.0-KB<n>-<arch>.psf: express payload streams addressed by the cix
  | 'ssu'                // SSU-<build>-<arch>.cab: servicing stack update, installed first
  | 'desktop-deployment' // DesktopDeployment*.cab: servicing binaries UpdateAgent loads
  | 'aggregated-metadata'// *AggregatedMetadata*.cab: LCU/SSU CompDBs
  | 'wsusscan'           // WSUSSCAN.cab: WSUS applicability metadata
  | 'pkg-properties'     // <KB>-pkgProperties.txt
  | 'uup-xml'            // *_uup.xml
  | 'express-metadata'   // *.mumx.esd and similar
  | 'unattend'           // <KB>.xml: tells wusa which cab to install
  | 'package-cab'        // any other .cab (e.g. a second package or a baseless/RCU variant)
  | 'other';

export interface MemberRule {
  role: MemberRole;
  pattern: RegExp;
  why: string;
}

export const MEMBER_RULES: readonly MemberRule[] = [
  { role: 'ssu', pattern: /^ssu-\d+(\.\d+)*-[a-z0-9]+\.cab$/i, why: 'SSU-<build>-<arch>.cab' },
  { role: 'desktop-deployment', pattern: /^desktopdeployment(_x86)?\.cab$/i, why: 'DesktopDeployment cab' },
  { role: 'aggregated-metadata', pattern: /aggregatedmetadata.*\.cab$/i, why: '*AggregatedMetadata*.cab' },
  { role: 'wsusscan', pattern: /^wsusscan\.cab$/i, why: 'WSUSSCAN.cab' },
  { role: 'pkg-properties', pattern: /-pkgproperties\.txt$/i, why: '<KB>-pkgProperties.txt' },
  { role: 'uup-xml', pattern: /_uup\.xml$/i, why: '*_uup.xml' },
  { role: 'express-metadata', pattern: /\.(mumx\.esd|esd)$/i, why: 'express metadata ESD' },
  { role: 'psf', pattern: /^windows\d+(\.\d+)?-kb\d+(-v\d+)?-(x86|x64|amd64|arm64|arm)([_-][^.]*)?\.psf$/i, why: 'Windows*-KB*-<arch>.psf' },
  { role: 'lcu-payload', pattern: /^windows\d+(\.\d+)?-kb\d+(-v\d+)?-(x86|x64|amd64|arm64|arm)([_-][^.]*)?\.(cab|wim)$/i, why: 'Windows*-KB*-<arch>.cab|.wim' },
  { role: 'unattend', pattern: /\.xml$/i, why: 'unattend .xml for wusa' },
  { role: 'package-cab', pattern: /\.cab$/i, why: 'other cabinet' },
];

/**
 * Every rule's pattern ends in one of these extensions (test/msu/inspect.test.ts checks), so a
 * name with another skips the table: a payload's manifests, catalogs and .mum files. Each
 * pattern is compiled on its first use, which in a short-lived process costs more than the
 * matching (0.7 ms for a cabinet's 25 members, docs/performance.md).
 */
export const RULE_EXTENSIONS: ReadonlySet<string> = new Set(['cab', 'wim', 'psf', 'esd', 'txt', 'xml']);

export function classifyMember(name: string): { role: MemberRole; why: string } {
  const base = name.split(/[\\/]/).pop() ?? name;
  if (RULE_EXTENSIONS.has(base.slice(base.lastIndexOf('.') + 1).toLowerCase())) {
    for (const r of MEMBER_RULES) if (r.pattern.test(base)) return { role: r.role, why: r.why };
  }
  return { role: 'other', why: 'no rule matched' };
}

/** KB number from a member or bundle name (`Windows10.0-KB5012170-x64.cab` → `KB5012170`). */
export function kbFromName(name: string): string | undefined {
  const m = /(?:^|[^a-z0-9])kb(\d{6,8})(?![0-9])/i.exec(name);
  return m ? `KB${m[1]}` : undefined;
}

/** Roles whose members are CBS packages that can be installed. */
export const PACKAGE_ROLES: ReadonlySet<MemberRole> = new Set(['lcu-payload', 'ssu', 'package-cab']);
