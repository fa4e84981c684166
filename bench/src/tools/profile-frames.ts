// Names for the frames of V8 profiles (CPU and sampling heap profiles share their call frames), used by the
// summary tools: which package or library folder a function belongs to, and where it is.

/** A V8 profile's call frame. */
export interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

/** Where a function lives: a package, a library folder, node internals, or V8 itself. */
export function groupOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  if (url.startsWith('node:')) return 'node: internals';
  const lib = /libs\/reflex-bridge\/(?:dist|src)\/([^/]+)\//.exec(url);
  if (lib) return `reflex-bridge/${lib[1]}`;
  if (/libs\/reflex-bridge\//.test(url)) return 'reflex-bridge';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (pkg) return pkg[1];
  if (/\/bench\//.test(url)) return 'bench';
  return url.replace(/^file:\/\//, '');
}

/** `file:line` of a frame, relative to node_modules or the repository's libs; empty for V8's own frames. */
export function location(frame: CallFrame): string {
  const file = frame.url.replace(/^file:\/\//, '').replace(/^.*node_modules\//, '').replace(/^.*\/libs\//, 'libs/');
  return file ? `${file}:${frame.lineNumber + 1}` : '';
}
