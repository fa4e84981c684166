import { createElement, useEffect, useRef, useState, type ReactNode } from 'react';
import { defaultRedirectHandler, ReflexClient, type ReflexClientOptions, type RedirectOptions } from '@reflex-bridge/client';
import { ReflexBinding } from './reflex.binding.js';
import { ReflexContext } from './reflex.context.js';

/** Navigates the app's router to a path the server redirected to (`redirect('/cart')` in a handler). */
export type ReflexNavigate = (path: string, options: RedirectOptions) => void;

/** Props of {@link ReflexProvider}. */
export interface ReflexProviderProps {
  /**
   * Options of the {@link ReflexClient} the provider creates, owns, connects on mount and disconnects on unmount.
   * Read once, on the first render. Give either `options` or `client`.
   */
  options?: ReflexClientOptions;
  /** A client made by the app instead: the provider connects it on mount and never disconnects it (its owner does). */
  client?: ReflexClient;
  /**
   * The app router's navigation, called for the server's in-app redirects (neither `external` nor `popup`), so the
   * page changes without a reload. Without it the browser loads the new URL. Read on every redirect, so it may change.
   */
  navigate?: ReflexNavigate;
  /**
   * The current page (path with query), as the app's router sees it. When it changes the client is told
   * (`client.navigate(page)`): the server's `router` var follows and the page's on-load handlers run.
   * @default the browser's location when the client was created
   */
  page?: string;
  /** How many recent server errors {@link useReflexErrors} keeps. @default 20 */
  errorLimit?: number;
  children?: ReactNode;
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
        onRedirect: (path, redirect) => {
          const navigate = navigateRef.current;
          if (navigate && !redirect.external && !redirect.popup) navigate(path, redirect);
          else (props.options?.onRedirect ?? defaultRedirectHandler())?.(path, redirect);
        },
      });
    return new ReflexBinding(client, props.errorLimit);
  });

  useEffect(() => {
    const detach = binding.attach();
    // A failed connect is reported through onConnectionError (useReflexErrors); nothing to do here.
    binding.client.connect().catch(() => undefined);
    return () => {
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
