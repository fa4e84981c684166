/**
 * The globals of a browser page (its `window`), or `undefined` outside one.
 *
 * Web storage and cookies belong to a tab, and the client keeps the tab's token and its storage vars there. Node 25
 * and later define web storage too: a `sessionStorage` shared by the whole process (every client in it would take the
 * same token, so the server would see one tab twice) and a `localStorage` that prints a warning and is `undefined`
 * without `--localstorage-file`. So the client looks at the storage globals only where there is a `window`: browsers,
 * and test environments such as jsdom that make one.
 */
export function pageGlobals<T extends object>(): T | undefined {
  const window = (globalThis as { window?: unknown }).window;
  return typeof window === 'object' && window !== null ? (globalThis as T) : undefined;
}
