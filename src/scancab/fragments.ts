import { decodeText } from '../util/xml.js';
import { XmlPullTokenizer } from '../util/xml-pull.js';

/**
 * Per-revision XML fragments of an offline-scan package: `core/<RevisionId>`,
 * `extended/<RevisionId>`, `localized/<lang>/<RevisionId>`. A fragment is a sequence
 * of sibling elements without one root, so it is parsed inside a wrapper element.
 */
interface FragEvent { path: string[]; name: string; attrs: Record<string, string> }

/**
 * Walk a fragment with the pull tokenizer (one per fragment; there are hundreds of
 * thousands, so no tree is built). `onOpen` sees each element with its ancestors;
 * `onText` the text of the current element.
 */
function walkFragment(bytes: Uint8Array, file: string, onOpen: (e: FragEvent) => void, onText?: (path: string[], text: string) => void): void {
  const text = decodeText(bytes).replace(/^\uFEFF/, '').replace(/^\s*<\?xml[^>]*\?>/, '');
  const path: string[] = [];
  const tok = new XmlPullTokenizer({
    open: (name, attrs) => {
      onOpen({ path, name, attrs });
      path.push(name);
    },
    close: () => void path.pop(),
    text: onText ? (t) => onText(path, t) : undefined,
  }, file);
  tok.push(`<Fragment>${text}</Fragment>`);
  tok.end();
}

const ci = (a: Record<string, string>, name: string): string | undefined => {
  if (name in a) return a[name];
  const l = name.toLowerCase();
  for (const k of Object.keys(a)) if (k.toLowerCase() === l) return a[k];
  return undefined;
};

export interface CoreFragment {
  updateId: string;
  updateType: string;
  hasApplicabilityRules: boolean;
}

export function parseCoreFragment(bytes: Uint8Array, file: string): CoreFragment {
  const out: CoreFragment = { updateId: '', updateType: '', hasApplicabilityRules: false };
  walkFragment(bytes, file, ({ path, name, attrs }) => {
    if (path.length === 1 && name === 'UpdateIdentity') out.updateId = (ci(attrs, 'UpdateID') ?? '').toLowerCase();
    else if (path.length === 1 && name === 'Properties') out.updateType = ci(attrs, 'UpdateType') ?? '';
    else if (path.length === 2 && path[1] === 'ApplicabilityRules') out.hasApplicabilityRules = true;
  });
  return out;
}

export interface ExtendedFragment {
  kb?: string;
  msrcSeverity?: string;
  files: { name: string; size: number; digest: string }[];
}

export function parseExtendedFragment(bytes: Uint8Array, file: string): ExtendedFragment {
  const out: ExtendedFragment = { files: [] };
  walkFragment(bytes, file, ({ path, name, attrs }) => {
    if (path.length === 1 && name === 'ExtendedProperties') {
      const sev = ci(attrs, 'MsrcSeverity');
      if (sev) out.msrcSeverity = sev;
    } else if (name === 'File' && path[1] === 'Files') {
      const size = Number(ci(attrs, 'Size') ?? '0');
      out.files.push({ name: ci(attrs, 'FileName') ?? '', size: Number.isSafeInteger(size) && size >= 0 ? size : 0, digest: ci(attrs, 'Digest') ?? '' });
    }
  }, (path, text) => {
    if (path.length === 3 && path[2] === 'KBArticleID' && path[1] === 'ExtendedProperties') out.kb = ((out.kb ?? '') + text).trim() || undefined;
  });
  return out;
}

export interface LocalizedFragment {
  language: string;
  title: string;
  description: string;
}

export function parseLocalizedFragment(bytes: Uint8Array, file: string): LocalizedFragment {
  const out: LocalizedFragment = { language: '', title: '', description: '' };
  walkFragment(bytes, file, () => undefined, (path, text) => {
    if (path.length !== 3 || path[1] !== 'LocalizedProperties') return;
    if (path[2] === 'Language') out.language += text;
    else if (path[2] === 'Title') out.title += text;
    else if (path[2] === 'Description') out.description += text;
  });
  out.language = out.language.trim();
  out.title = out.title.trim();
  out.description = out.description.trim();
  return out;
}
