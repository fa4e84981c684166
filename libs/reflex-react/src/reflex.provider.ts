import { createElement, useEffect, useRef, useState, type ReactNode } from 'react';
import { defaultRedirectHandler, ReflexClient, type ConnectionError, type ReflexClientOptions, type RedirectOptions } from '@reflex-bridge/client';
import { ReflexBinding } from './reflex.binding.js';
import { ReflexContext } from './reflex.context.js';

/** Navigates the app's router to a path the server redirected to (`redirect('/cart')` in a handler). */
export type ReflexNavigate = (path: string, options: RedirectOptions) => void;

/** Props of {@link ReflexProvider}. */
export interface ReflexProviderProps {
  /**
   * Options of the {@link ReflexClient} the provider creates, owns, connects on mount and disconnects on unmount.
   * Read once, on the first render. Give either `options` or `client`. Unlike a bare client, the provider's keeps
   * trying when the server cannot be reached as the page loads (`reconnect.retryInitialConnect` defaults to `true`,
   * and after a `connectTimeoutMs` timeout it connects again): each failure shows in `useReflexErrors().connectionError`.
   */
  options?: ReflexClientOptions;
  /** A client made by the app instead: the provider connects it on mount and never disconnects it (its owner does). */
  client?: ReflexClient;
  /**
   * The app router's navigation, called for the server's in-app redirects (neither `external` nor `popup`, and to
   * this page's origin: it gets the path, query and hash), so the page changes without a reload. A redirect to
   * another origin or to a path starting with `//`, or without it, loads the new URL in the browser. Read on every
   * redirect, so it may change.
   */
  navigate?: ReflexNavigate;
  /**
   * The current page (path with query), as the app's router sees it. When it changes the client is told
   * (`client.navigate(page)`): the server's `router` var follows and the page's on-load handlers run.
   * @default the browser's location when the client was created
   */
  page?: string;
  /** How many recent server errors {@link useReflexErrors} keeps (a whole number >= 0; `0` keeps none). @default 20 */
  errorLimit?: number;
  children?: ReactNode;
}

/**
 * A page loaded while its server is down or restarting (a deploy) must connect once the server is back, as a Reflex
 * page does: a bare client's `connect()` gives up on the first refused attempt, which would leave the page
 * disconnected for good.
 */
function pageLoadRetry(options: ReflexClientOptions | undefined): Pick<ReflexClientOptions, 'reconnect'> {
  return { reconnect: options?.reconnect === false ? false : { retryInitialConnect: true, ...options?.reconnect } };
}

/**
 * The path (with query and hash) a redirect leads to inside this app, or `undefined` when it leaves the page's
 * origin (or is no web URL at all): as in Reflex's client, only a same-origin redirect goes through the router,
 * another origin loads as a page. An app router handed `https://other.example/x` would take it for a path.
 * A same-origin URL whose path starts with `//` loads as a page too.
 */
function inAppPath(path: string): string | undefined {
  const here = (globalThis as { location?: { href?: string; origin?: string } }).location;
  try {
    const target = new URL(path, here?.href ?? 'http://localhost/');
    if (target.protocol !== 'http:' && target.protocol !== 'https:') return undefined;
    if (here?.origin && target.origin !== here.origin) return undefined;
    // `https://this.site//other.example/x` stays on this site as a page, but its path `//other.example/x` is a
    // protocol-relative URL to a router (React Router's history then loads it with location.assign()): a page load.
    if (target.pathname.startsWith('//')) return undefined;
    return target.pathname + target.search + target.hash;
  } catch {
    return undefined;
  }
}

/**
 * Owns one {@link ReflexClient} for the components below it: connects on mount, disconnects on unmount (a client
 * given through `client` is connected but left open), and routes the server's redirects through the app's router.
 * @example
 * ```ts
 * createRoot(root).render(createElement(ReflexProvider, { options: { url: '/' }, navigate: (path) => router.navigate(path) }, createElement(App)));
 * ```
 */
export function ReflexProvider(props: ReflexProviderProps): ReactNode {
  const navigateRef = useRef(props.navigate);
  navigateRef.current = props.navigate;
  const [owned] = useState(() => !props.client);
  const [binding] = useState(() => {
    if (props.client && props.options) throw new TypeError('<ReflexProvider>: give either `client` or `options`, not both.');
    const client =
      props.client ??
      new ReflexClient({
        ...(props.options ?? { url: '/' }),
        ...pageLoadRetry(props.options),
        onRedirect: (path, redirect) => {
          const navigate = navigateRef.current;
          const inApp = navigate && !redirect.external && !redirect.popup ? inAppPath(path) : undefined;
          if (navigate && inApp !== undefined) navigate(inApp, redirect);
          else (props.options?.onRedirect ?? defaultRedirectHandler())?.(path, redirect);
        },
      });
    return new ReflexBinding(client, props.errorLimit);
  });

  useEffect(() => {
    const detach = binding.attach();
    let mounted = true;
    const connect = (): void => {
      // A failure already reached onConnectionError (useReflexErrors). A `timeout` (the server did not answer, or
      // did not hydrate, within `connectTimeoutMs`) ends a client's attempts; the provider's client starts again,
      // so the page connects once the server is back. The app's own choices (`gave_up`, no retry) are kept.
      binding.client.connect().catch((error: unknown) => {
        if (mounted && owned && (error as Partial<ConnectionError> | undefined)?.kind === 'timeout') connect();
      });
    };
    connect();
    return () => {
      mounted = false;
      detach();
      if (owned) binding.client.disconnect();
    };
  }, [binding, owned]);

  const lastPage = useRef(props.page);
  useEffect(() => {
    if (props.page === undefined || props.page === lastPage.current) return;
    lastPage.current = props.page;
    binding.client.navigate(props.page);
  }, [binding, props.page]);

  return createElement(ReflexContext.Provider, { value: binding }, props.children);
}
