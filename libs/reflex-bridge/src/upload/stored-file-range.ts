import parseRange from 'range-parser';

/** What a stored file's answer sends of it: all of it (`200`), one part (`206`), or nothing (`416`). */
export type ByteRange = { kind: 'whole' } | { kind: 'part'; start: number; end: number } | { kind: 'unsatisfiable' };

/**
 * Longest `Range` header read; a longer one is ignored (the whole file is sent). One range takes some 40 characters:
 * no media player or download manager sends more than a few, and a cap keeps the parsing of one request's header
 * small whatever header size the server accepts.
 */
const MAX_RANGE_HEADER_CHARS = 1024;

/** `bytes=-N` with N > 0: the last N bytes. */
const SUFFIX_RANGE = /^\s*bytes\s*=\s*-\s*0*[1-9]\d*\s*$/i;

/** `first-last`, both given. */
const CLOSED_RANGE = /^\s*(\d+)\s*-\s*(\d+)\s*$/;

/** Whether a range of `specs` (what follows `bytes=`) ends before it starts (`1-0`): RFC 9110 calls that invalid. */
function hasInvalidRange(specs: string): boolean {
  return specs.split(',').some((spec) => {
    const closed = CLOSED_RANGE.exec(spec);
    return closed !== null && BigInt(closed[2]!) < BigInt(closed[1]!);
  });
}

/**
 * The part of a file of `size` bytes a `Range` header asks for, parsed by `range-parser` (Express's own), with
 * overlapping and adjacent ranges merged.
 *
 * - No header, an unreadable one, another unit than `bytes`, an over-long one, or one with a range that ends before
 *   it starts (`bytes=1-0`, invalid by RFC 9110, which has such a header ignored): the whole file.
 * - Several ranges that stay distinct after merging: the whole file too. A `multipart/byteranges` answer is what
 *   nobody who matters asks for (video players and resumed downloads ask for one range) and what would let a request
 *   of many small ranges cost far more than the file; the whole file is a correct answer to any of them.
 * - No range that starts inside the file (`bytes=500-` of 100 bytes, anything of an empty file): unsatisfiable.
 * - A suffix longer than the file (`bytes=-1000` of 100 bytes) is the whole file as one part, as RFC 9110 says;
 *   `range-parser` alone would call it unsatisfiable.
 */
export function byteRangeOf(header: string | undefined, size: number): ByteRange {
  if (header === undefined || header.length > MAX_RANGE_HEADER_CHARS) return { kind: 'whole' };
  // The unit first: range-parser tells "unsatisfiable" without it, and another unit's range is no byte range at all.
  const unitEnd = header.indexOf('=');
  if (unitEnd === -1 || header.slice(0, unitEnd).trim().toLowerCase() !== 'bytes') return { kind: 'whole' };
  // range-parser skips such a range, and with no other left answers "unsatisfiable" (416).
  if (hasInvalidRange(header.slice(unitEnd + 1))) return { kind: 'whole' };
  const ranges = parseRange(size, header, { combine: true });
  if (ranges === -2) return { kind: 'whole' };
  if (ranges === -1) return SUFFIX_RANGE.test(header) && size > 0 ? { kind: 'part', start: 0, end: size - 1 } : { kind: 'unsatisfiable' };
  if (ranges.length !== 1) return { kind: 'whole' };
  const [{ start, end }] = ranges;
  return { kind: 'part', start, end };
}
