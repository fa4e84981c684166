import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { posix, win32 } from 'node:path';
import { cleanUploadFileName, MAX_UPLOAD_FILE_NAME_LENGTH } from './upload-file-name.js';
import { UploadError } from './upload.error.js';

/** Segments a hostile client might put in a name, mixed with ordinary ones. */
const segment = fc.oneof(
  fc.constantFrom('', '.', '..', '...', 'C:', 'c:..', 'D:x', '~', ' ', '.hidden', 'a:b'),
  fc.stringMatching(/^[\w .\-:~]{1,12}$/),
);
const separator = fc.constantFrom('/', '\\', '//', '\\\\');
const hostileName = fc
  .tuple(fc.constantFrom('', '/', '\\', 'C:', 'C:\\', 'z:/', '//server/share/', '\\\\?\\C:\\'), fc.array(fc.tuple(segment, separator), { maxLength: 8 }), segment)
  .map(([prefix, parts, last]) => prefix + parts.map(([s, sep]) => s + sep).join('') + last);

function cleanOrRefused(raw: string): string | undefined {
  try {
    return cleanUploadFileName(raw);
  } catch (error) {
    expect(error).toBeInstanceOf(UploadError);
    expect((error as UploadError).status).toBe(400);
    expect((error as UploadError).code).toBe('upload_bad_filename');
    return undefined;
  }
}

describe('cleanUploadFileName', () => {
  it('keeps relative paths without dot and empty segments, and only the last part of an absolute path or one with a drive', () => {
    expect(cleanUploadFileName('cat.png')).toBe('cat.png');
    expect(cleanUploadFileName('./cat.png')).toBe('cat.png');
    expect(cleanUploadFileName('photos/2024/cat.png')).toBe('photos/2024/cat.png');
    expect(cleanUploadFileName('../../etc/passwd')).toBe('etc/passwd');
    expect(cleanUploadFileName('a/./b//c/../d')).toBe('a/b/c/d');
    // As Reflex's upload endpoint cleans them (Python's PureWindowsPath(name).name for these).
    expect(cleanUploadFileName('/etc/passwd')).toBe('passwd');
    expect(cleanUploadFileName('/photos/2024/cat.png')).toBe('cat.png');
    expect(cleanUploadFileName('C:\\Users\\me\\cat.png')).toBe('cat.png');
    expect(cleanUploadFileName('\\\\server\\share\\cat.png')).toBe('cat.png');
    expect(cleanUploadFileName('C:cat.png')).toBe('cat.png');
    expect(cleanUploadFileName('C:photos/cat.png')).toBe('cat.png');
    expect(cleanUploadFileName('/C:/x/y')).toBe('y');
    expect(cleanUploadFileName('notes 12:30.txt')).toBe('notes 12:30.txt');
    expect(cleanUploadFileName('ünïcødé/文件.txt')).toBe('ünïcødé/文件.txt');
  });

  it('refuses NUL and control characters, empty results and overlong names with 400 upload_bad_filename', () => {
    for (const raw of ['a\0.png', 'x/\u0001y', 'line\nbreak', 'tab\there', 'del\u007f', 'c1\u0085', '', '/', '..', '../..', './/.', 'C:', 'C:\\', 'x'.repeat(MAX_UPLOAD_FILE_NAME_LENGTH + 1)]) {
      expect(cleanOrRefused(raw)).toBeUndefined();
    }
    expect(cleanUploadFileName('x'.repeat(MAX_UPLOAD_FILE_NAME_LENGTH))).toHaveLength(MAX_UPLOAD_FILE_NAME_LENGTH);
  });

  it('never yields a name that is absolute, has a drive, a dot or empty segment, or leaves a directory (property)', () => {
    fc.assert(
      fc.property(fc.oneof(hostileName, fc.string(), fc.string({ unit: 'binary' })), (raw) => {
        const name = cleanOrRefused(raw);
        if (name === undefined) return;
        expect(name).not.toMatch(/^[/\\]/);
        expect(name).not.toMatch(/^[A-Za-z]:/);
        expect(name).not.toContain('\\');
        // eslint-disable-next-line no-control-regex
        expect(name).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
        for (const part of name.split('/')) expect(['', '.', '..']).not.toContain(part);
        expect(posix.resolve('/base/dir', name).startsWith('/base/dir/')).toBe(true);
        expect(win32.resolve('D:\\base\\dir', name).startsWith('D:\\base\\dir\\')).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('is idempotent, and leaves clean relative paths as they are (property)', () => {
    fc.assert(
      fc.property(hostileName, (raw) => {
        const name = cleanOrRefused(raw);
        if (name !== undefined) expect(cleanUploadFileName(name)).toBe(name);
      }),
      { numRuns: 1000 },
    );
    const cleanSegment = fc.stringMatching(/^[\w-][\w .-]{0,10}$/).filter((s) => s !== '.' && s !== '..');
    fc.assert(
      fc.property(fc.array(cleanSegment, { minLength: 1, maxLength: 6 }), (parts) => {
        expect(cleanUploadFileName(parts.join('/'))).toBe(parts.join('/'));
      }),
    );
  });

  it('refuses any name holding a control character (property)', () => {
    const control = fc.integer({ min: 0, max: 0x1f }).map((code) => String.fromCharCode(code));
    fc.assert(
      fc.property(fc.string(), control, fc.string(), (before, bad, after) => {
        expect(cleanOrRefused(before + bad + after)).toBeUndefined();
      }),
    );
  });
});
