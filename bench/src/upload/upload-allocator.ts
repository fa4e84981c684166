// The C allocator settings the upload servers run with. Node's HTTP parser copies every body chunk it hands to
// JavaScript (about 64 KiB) into a new buffer from glibc's malloc, freed only when V8 collects its Buffer. With
// glibc's defaults the heap's top is given back to the kernel (`brk`) whenever more than 128 KiB of it is free,
// and taken again for the next chunks: each copy then lands on pages the kernel must fault in and zero, and the
// file write reads them cold. Which windows fall into that churn is chance, and a Nest app's process, whose young
// generation grows to 16 MB while the app starts (so more buffers wait for each collection), falls into it far more
// often than a bare node:http process: the same build read 0.34× to 1.02× of busboy with the defaults, with up to
// 72 page faults per MiB against busboy's 0-18 (see docs/performance.md, "glibc's heap and the upload windows").
// A trim threshold above what one collection frees keeps those pages, in both servers alike.

/** Which malloc settings an upload server process runs with. */
export type UploadAllocator = 'tuned' | 'glibc_defaults';

/** glibc's trim threshold for `tuned`: keep up to 16 MiB free at the heap's top before giving it back. */
export const TUNED_MALLOC = 'glibc.malloc.trim_threshold=16777216';

/** The environment of an upload server process run with `allocator` (ignored by C libraries other than glibc). */
export function uploadServerEnv(allocator: UploadAllocator): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.GLIBC_TUNABLES;
  delete env.MALLOC_TRIM_THRESHOLD_;
  delete env.MALLOC_TOP_PAD_;
  if (allocator === 'tuned') env.GLIBC_TUNABLES = TUNED_MALLOC;
  return env;
}
