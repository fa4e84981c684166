// A tiny history-based router: the app's three pages need no more than the current path, a navigate function and
// links that do not reload the page.
import { createElement, useSyncExternalStore, type AnchorHTMLAttributes, type MouseEvent, type ReactNode } from 'react';

const listeners = new Set<() => void>();

function notify(): void {
  for (const listener of listeners) listener();
}

window.addEventListener('popstate', notify);

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

const currentPath = (): string => window.location.pathname + window.location.search;

/** The current path with its query, re-rendering on each navigation (links, back/forward, server redirects). */
export function usePath(): string {
  return useSyncExternalStore(subscribe, currentPath, currentPath);
}

/** Goes to `path` in the app without reloading; `replace` keeps the history entry count (a server's redirect). */
export function navigate(path: string, options: { replace?: boolean } = {}): void {
  if (path === currentPath()) return;
  if (options.replace) window.history.replaceState(null, '', path);
  else window.history.pushState(null, '', path);
  window.scrollTo(0, 0);
  notify();
}

/** A page of the app, matched against the path without its query. */
export type Route = { page: 'catalogue' } | { page: 'cart' } | { page: 'product'; id: number } | { page: 'not-found' };

/** Which page a path shows: `/`, `/cart`, `/product/:id`. */
export function matchRoute(path: string): Route {
  const pathname = path.split(/[?#]/, 1)[0]!.replace(/\/+$/, '') || '/';
  if (pathname === '/') return { page: 'catalogue' };
  if (pathname === '/cart') return { page: 'cart' };
  const product = /^\/product\/(\d{1,9})$/.exec(pathname);
  if (product) return { page: 'product', id: Number(product[1]) };
  return { page: 'not-found' };
}

/** An `<a>` that navigates inside the app (a modified click, e.g. to open a new tab, is left to the browser). */
export function Link(props: AnchorHTMLAttributes<HTMLAnchorElement> & { to: string; children?: ReactNode }): ReactNode {
  const { to, onClick, ...rest } = props;
  const click = (event: MouseEvent<HTMLAnchorElement>): void => {
    onClick?.(event);
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(to);
  };
  return createElement('a', { ...rest, href: to, onClick: click });
}
