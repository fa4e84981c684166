/**
 * `encoded` (part of a request's path, still percent-encoded) decoded, or undefined when its percent-encoding is
 * malformed (`%zz`, a UTF-8 sequence cut short): never throws, so a route reading its own path answers such a request
 * as for anything else it does not serve.
 */
export function decodedPathPart(encoded: string): string | undefined {
  try {
    return decodeURIComponent(encoded);
  } catch {
    return undefined;
  }
}
