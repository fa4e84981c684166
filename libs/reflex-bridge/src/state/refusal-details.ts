/**
 * At most this many messages go into a refused payload's `details`, each cut to {@link DETAIL_CHARS}: a pipe may
 * echo input, and a payload can fail thousands of checks (9,000 unknown keys made a 367 kB `bridge_error` from one
 * 89 kB event), so the client that sent it would choose how large its answer is.
 */
export const MAX_DETAILS = 20;
export const DETAIL_CHARS = 300;

/** `message` cut to {@link DETAIL_CHARS}. */
export function detailText(message: string): string {
  return message.length > DETAIL_CHARS ? message.slice(0, DETAIL_CHARS) : message;
}
