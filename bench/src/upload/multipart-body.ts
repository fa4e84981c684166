// The load generator's request bodies: one `files` part of a given size, generated on the fly from one reusable
// block (nothing is stored, so a 1 GiB upload costs the client no memory). Framing a body is the client's side
// of the wire and trivial; parsing one (the server's side) is left to busboy.
import { randomBytes, randomUUID } from 'node:crypto';

/** Bytes handed to one `req.write` (a browser's XHR and undici write in similar slices). */
export const WRITE_BYTES = 64 * 1024;

/**
 * The file data: random bytes with no CR (0x0d) in them, so no slice of it can start a multipart delimiter
 * (`\r\n--boundary`) whatever the boundary, and the parsers' boundary search runs over incompressible data.
 */
export const FILE_BLOCK: Buffer = (() => {
  const block = randomBytes(WRITE_BYTES);
  for (let i = 0; i < block.length; i++) if (block[i] === 0x0d) block[i] = 0x0e;
  return block;
})();

/** The framing around one file part: `head`, then `fileBytes` of data, then `tail`. */
export interface MultipartFrame {
  contentType: string;
  head: Buffer;
  tail: Buffer;
  contentLength: number;
}

export function multipartFrame(filename: string, fileBytes: number): MultipartFrame {
  const boundary = `----ReflexBridgeBench${randomUUID().replaceAll('-', '')}`;
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="files"; filename="${filename}"\r\nContent-Type: application/octet-stream\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  return { contentType: `multipart/form-data; boundary=${boundary}`, head, tail, contentLength: head.length + fileBytes + tail.length };
}
