/**
 * Whether a text frame is over `maxMessageBytes` in UTF-8 bytes. `Buffer.byteLength` runs only for frames long
 * enough to possibly be over (a UTF-16 unit is at most 3 bytes): a type test and a comparison for every other frame.
 */
export function exceedsMessageLimit(text: string, maxMessageBytes: number): boolean {
  return text.length > maxMessageBytes / 3 && Buffer.byteLength(text) > maxMessageBytes;
}
