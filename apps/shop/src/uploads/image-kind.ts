import { open } from 'node:fs/promises';

/** The image formats the shop accepts, with the extension a stored file gets. */
export type ImageKind = 'png' | 'jpg' | 'gif' | 'webp';

/** Bytes read from the start of a file: enough for every signature below. */
const HEAD_BYTES = 12;

/**
 * What a file really is, from its first bytes (its magic number), whatever the client declared: the declared
 * content type and the file name are the uploader's words, the signature is what the browser will sniff.
 */
export function imageKindOf(head: Uint8Array): ImageKind | undefined {
  const starts = (...bytes: number[]) => bytes.every((byte, index) => head[index] === byte);
  if (starts(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return 'png';
  if (starts(0xff, 0xd8, 0xff)) return 'jpg';
  if (starts(0x47, 0x49, 0x46, 0x38) && (head[4] === 0x37 || head[4] === 0x39) && head[5] === 0x61) return 'gif';
  // RIFF....WEBP
  if (starts(0x52, 0x49, 0x46, 0x46) && head[8] === 0x57 && head[9] === 0x45 && head[10] === 0x42 && head[11] === 0x50) return 'webp';
  return undefined;
}

/** Reads the first bytes of the file at `path` and tells its image kind. */
export async function imageKindOfFile(path: string): Promise<ImageKind | undefined> {
  const handle = await open(path, 'r');
  try {
    const head = new Uint8Array(HEAD_BYTES);
    const { bytesRead } = await handle.read(head, 0, HEAD_BYTES, 0);
    return imageKindOf(head.subarray(0, bytesRead));
  } finally {
    await handle.close();
  }
}
