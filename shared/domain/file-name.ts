import { validation } from './errors';

/**
 * The rule for names of attached files. A name is shown to other users and sent back in
 * Content-Disposition, so it must not be able to disguise itself or break a header:
 * 1-255 characters after trimming, no "/" or "\", no control characters (C0 U+0000–U+001F,
 * DEL U+007F, C1 U+0080–U+009F) and no bidirectional embeddings, overrides or isolates
 * (U+202A–U+202E, U+2066–U+2069), which can make "invoice‮fdp.exe" read as "invoiceexe.pdf".
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what this check refuses
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const BIDI = /[\u202a-\u202e\u2066-\u2069]/;

const codePoint = (c: string) => `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;

/** Returns the trimmed name, or throws a validation error saying what is wrong with it. */
export function checkFileName(raw: string): string {
  const name = raw.trim();
  const invalid = (why: string) => validation(`The file name ${why}.`, [{ path: 'name', message: why }]);
  if (name.length === 0 || name.length > 255) throw invalid('must be 1-255 characters');
  const control = CONTROL.exec(name);
  if (control) throw invalid(`contains the control character ${codePoint(control[0])}`);
  const bidi = BIDI.exec(name);
  if (bidi) throw invalid(`contains the bidirectional formatting character ${codePoint(bidi[0])}, which can disguise its real extension`);
  if (/[\\/]/.test(name)) throw invalid('must not contain "/" or "\\"');
  try {
    encodeURIComponent(name); // what the download's Content-Disposition does; fails on unpaired surrogates
  } catch {
    throw invalid('is not valid Unicode (an unpaired surrogate)');
  }
  return name;
}
