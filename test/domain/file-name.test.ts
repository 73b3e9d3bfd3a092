import { describe, expect, it } from 'vitest';
import { checkFileName } from '../../shared/domain/file-name';

describe('file names', () => {
  it('accepts ordinary names in any script, trimmed', () => {
    for (const n of ['smlouva č.1.pdf', 'report (final).docx', 'עברית.txt', 'عربي.pdf', '日本語 ファイル.xlsx', 'a', 'x'.repeat(255)]) {
      expect(checkFileName(` ${n} `)).toBe(n);
    }
  });

  it('refuses controls (C0, DEL, C1), bidirectional overrides and isolates, separators, unpaired surrogates and bad lengths, saying which', () => {
    const cases: Array<[string, RegExp]> = [
      ['a\u0000b', /control character U\+0000/],
      ['a\u001bb', /control character U\+001B/],
      ['a\u007fb', /control character U\+007F/],
      ['a\u0085b', /control character U\+0085/],
      ['a\u009fb', /control character U\+009F/],
      ['invoice\u202efdp.exe', /bidirectional formatting character U\+202E/],
      ['a\u202ab', /U\+202A/],
      ['a\u2066b', /U\+2066/],
      ['a\u2069b', /U\+2069/],
      ['a/b', /"\/"/],
      ['a\\b', /"\/"/],
      ['a\ud800b', /unpaired surrogate/],
      ['   ', /1-255 characters/],
      ['x'.repeat(256), /1-255 characters/],
    ];
    for (const [name, why] of cases) {
      let err: unknown;
      try {
        checkFileName(name);
      } catch (e) {
        err = e;
      }
      expect(err, JSON.stringify(name)).toMatchObject({ name: 'AppError', code: 'validation', status: 400 });
      expect((err as Error).message, JSON.stringify(name)).toMatch(why);
    }
  });
});
