/**
 * Splits a stream of NDJSON text into whole lines as it arrives.
 *
 * Chunks may be bytes (decoded as UTF-8 with a streaming decoder, so a character split across two chunks is
 * kept whole) or text. A line may arrive in any number of pieces; only whole lines come out. `\r\n` endings are
 * accepted and blank lines are skipped.
 */
export class NdjsonLineSplitter {
  private readonly decoder = new TextDecoder('utf-8');
  /**
   * Text after the last newline seen: the start of a line still arriving, kept as its chunks so that each new chunk
   * is scanned once (joining and re-splitting it all per chunk made a long line cost quadratic time).
   */
  private pending: string[] = [];
  private pendingLength = 0;

  /**
   * @param maxLineLength Longest line (in UTF-16 code units) accepted: a peer that never sends a newline cannot
   * make the buffer grow without bound.
   */
  constructor(private readonly maxLineLength = 16 * 1024 * 1024) {}

  /**
   * Adds a chunk.
   * @returns The lines it completed, in order, without their line endings.
   * @throws RangeError when a line (finished or not) grows past `maxLineLength`.
   */
  push(chunk: Uint8Array | string): string[] {
    const text = typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true });
    if (text.length === 0) return [];
    const parts = text.split('\n');
    const rest = parts.pop()!;
    if (parts.length > 0) {
      parts[0] = this.pending.join('') + parts[0];
      this.pending = [];
      this.pendingLength = 0;
    }
    if (rest.length > 0) {
      this.pending.push(rest);
      this.pendingLength += rest.length;
    }
    // A line that ended in this chunk is held to the cap too: it is parsed next.
    if (this.pendingLength > this.maxLineLength || parts.some((line) => line.length > this.maxLineLength)) {
      throw new RangeError(`An NDJSON line exceeded ${this.maxLineLength} characters.`);
    }
    return this.keep(parts);
  }

  /**
   * Ends the stream.
   * @returns The last line when the stream did not end with a newline (and any bytes the decoder still held).
   */
  flush(): string[] {
    const rest = this.pending.join('') + this.decoder.decode();
    this.pending = [];
    this.pendingLength = 0;
    return this.keep([rest]);
  }

  private keep(lines: string[]): string[] {
    const out: string[] = [];
    for (const raw of lines) {
      const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
      if (line.trim().length > 0) out.push(line);
    }
    return out;
  }
}
