import { describe, expect, it } from '@jest/globals';
import { BUSY_RETRY_AFTER_SECONDS, STORAGE_RETRY_AFTER_SECONDS, uploadRetryAfterSeconds } from './upload-retry-after.js';

describe('uploadRetryAfterSeconds', () => {
  it('tells a client refused for capacity to come back once uploads ended', () => {
    for (const code of ['too_many_uploads', 'uploads_busy', 'state_unavailable', 'session_unavailable', 'server_stopping'] as const) {
      expect(uploadRetryAfterSeconds({ detail: '', code })).toBe(BUSY_RETRY_AFTER_SECONDS);
    }
    expect(uploadRetryAfterSeconds({ detail: '', code: 'upload_storage_full', limit: 1000 })).toBe(BUSY_RETRY_AFTER_SECONDS);
  });

  it('tells a client refused by a failing temp disk to wait longer', () => {
    expect(uploadRetryAfterSeconds({ detail: '', code: 'upload_storage_full' })).toBe(STORAGE_RETRY_AFTER_SECONDS);
    expect(uploadRetryAfterSeconds({ detail: '', code: 'upload_storage_unavailable' })).toBe(STORAGE_RETRY_AFTER_SECONDS);
    expect(STORAGE_RETRY_AFTER_SECONDS).toBeGreaterThan(BUSY_RETRY_AFTER_SECONDS);
  });

  it('gives no wait to refusals that fail again whenever they are sent, nor to one that may have been applied', () => {
    for (const code of ['upload_too_large', 'upload_bad_form', 'forbidden', 'unknown_token', 'upload_idle_timeout', 'state_outcome_unknown', 'handler_error'] as const) {
      expect(uploadRetryAfterSeconds({ detail: '', code })).toBeUndefined();
    }
  });
});
