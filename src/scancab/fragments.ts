import { attr, child, decodeText, descendants, parseXml, type XmlElement } from '../util/xml.js';

/**
 * Per-revision XML fragments of an offline-scan package: `core/<RevisionId>`,
 * `extended/<RevisionId>`, `localized/<lang>/<RevisionId>`. A fragment is a sequence
 * of sibling elements without one root, so it is parsed inside a wrapper element.
 */
function parseFragment(bytes: Uint8Array, file: string): XmlElement {
  const text = decodeText(bytes).replace(/^\uFEFF/, '').replace(/^\s*<\?xml[^>]*\?>/, '');
  return parseXml(`<Fragment>${text}</Fragment>`, file);
}

export interface CoreFragment {
  updateId: string;
  updateType: string;
  hasApplicabilityRules: boolean;
}

export function parseCoreFragment(bytes: Uint8Array, file: string): CoreFragment {
  const f = parseFragment(bytes, file);
  const props = child(f, 'Properties');
  const rules = child(f, 'ApplicabilityRules');
  return {
    updateId: (attr(child(f, 'UpdateIdentity') ?? f, 'UpdateID') ?? '').toLowerCase(),
    updateType: props ? (attr(props, 'UpdateType') ?? '') : '',
    hasApplicabilityRules: Boolean(rules && rules.children.length),
  };
}

export interface ExtendedFragment {
  kb?: string;
  msrcSeverity?: string;
  files: { name: string; size: number; digest: string }[];
}

export function parseExtendedFragment(bytes: Uint8Array, file: string): ExtendedFragment {
  const f = parseFragment(bytes, file);
  const props = child(f, 'ExtendedProperties');
  const out: ExtendedFragment = { files: [] };
  if (props) {
    const kb = child(props, 'KBArticleID')?.text;
    if (kb) out.kb = kb;
    const sev = attr(props, 'MsrcSeverity');
    if (sev) out.msrcSeverity = sev;
  }
  const files = child(f, 'Files');
  for (const el of files ? descendants(files, 'File') : []) {
    const size = Number(attr(el, 'Size') ?? '0');
    out.files.push({
      name: attr(el, 'FileName') ?? '',
      size: Number.isSafeInteger(size) && size >= 0 ? size : 0,
      digest: attr(el, 'Digest') ?? '',
    });
  }
  return out;
}

export interface LocalizedFragment {
  language: string;
  title: string;
  description: string;
}

export function parseLocalizedFragment(bytes: Uint8Array, file: string): LocalizedFragment {
  const f = parseFragment(bytes, file);
  const p = child(f, 'LocalizedProperties') ?? f;
  return {
    language: child(p, 'Language')?.text ?? '',
    title: child(p, 'Title')?.text ?? '',
    description: child(p, 'Description')?.text ?? '',
  };
}
