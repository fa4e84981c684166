import { describe, expect, it } from '@jest/globals';
import { TempDirectoryOutage } from './temp-directory-outage.js';

describe('TempDirectoryOutage', () => {
  it('logs the first refusal with the file system\'s error and the recovery with the count, whatever the number between', () => {
    const lines: Array<{ level: string; message: string }> = [];
    const outage = new TempDirectoryOutage({ error: (message: string) => lines.push({ level: 'error', message }), log: (message: string) => lines.push({ level: 'log', message }) });
    outage.stored();
    expect(lines).toEqual([]);
    const erofs = Object.assign(new Error('EROFS: read-only file system, mkdtemp \'/tmp/x/reflex-upload-XXXXXX\''), { code: 'EROFS' });
    for (let i = 0; i < 500; i++) outage.failed('app.state.attach', erofs);
    expect(lines).toEqual([{ level: 'error', message: expect.stringContaining('EROFS: read-only file system') as unknown }]);
    expect(lines[0]!.message).toContain('app.state.attach');
    outage.stored();
    outage.stored();
    expect(lines).toHaveLength(2);
    expect(lines[1]).toEqual({ level: 'log', message: 'Uploads are stored in uploads.tempDirectory again; 500 uploads were refused while they could not be.' });
    outage.failed('app.state.attach', 'ENOSPC');
    expect(lines).toHaveLength(3);
    expect(lines[2]!.message).toContain('(ENOSPC)');
  });
});
