/**
 * @jest-environment jsdom
 * @jest-environment-options {"customExportConditions": ["node", "node-addons"]}
 */
// React renders into jsdom; the server (and so its dependencies, `ws` among them) runs in the same process, so
// packages resolve to their Node builds.
import 'reflect-metadata';
import * as nodeTimers from 'node:timers';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { Injectable, UseGuards, type CanActivate, type INestApplication } from '@nestjs/common';
import { Throttle } from '@nestjs/throttler';
import { Test } from '@nestjs/testing';
import { act, cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { createElement as h, useEffect } from 'react';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { Server as SocketIoServer } from 'socket.io';
import type { ReflexClient } from '@reflex-bridge/client';
import { EventHandler, Payload, ReflexBridgeModule, State, redirect, type ClientEvent } from '@reflex-bridge/nest';
import { ReflexProvider, type ReflexNavigate } from './reflex.provider.js';
import { useReflexClient } from './reflex.context.js';
import { useReflexState } from './use-reflex-state.js';
import { useReflexVar } from './use-reflex-var.js';
import { useReflexEvent } from './use-reflex-event.js';
import { useConnectionStatus } from './use-connection-status.js';
import { useReflexErrors } from './use-reflex-errors.js';
import { handlerRef, stateRef, type EmptyPayload, type HandlerRef, type StateRef } from './state.ref.js';

/** An app guard that refuses everything (a 403 for the event). */
@Injectable()
class DenyGuard implements CanActivate {
  canActivate(): boolean {
    return false;
  }
}

@State()
class BoardState {
  count = 0;
  label = 'start';

  @EventHandler() increment(): void {
    this.count++;
  }

  @EventHandler() setLabel(@Payload('value') value: string): void {
    this.label = value;
  }

  @EventHandler() explode(): void {
    throw new Error('boom');
  }

  @EventHandler() leave(): ClientEvent {
    return redirect('/next');
  }

  @EventHandler() leaveTo(@Payload('to') to: string): ClientEvent {
    return redirect(to);
  }

  @EventHandler() @UseGuards(DenyGuard) secret(): void {
    this.label = 'secret';
  }

  @EventHandler() @Throttle({ default: { limit: 1, ttl: 60_000 } }) once(): void {
    this.count += 100;
  }
}

/** What `reflex-bridge codegen` writes for BoardState (written by hand here: the codegen has its own spec). */
interface BoardStateVars {
  count: number;
  label: string;
}
const Board: StateRef<BoardStateVars> & {
  increment: HandlerRef<EmptyPayload>;
  setLabel: HandlerRef<{ value: string }>;
  explode: HandlerRef<EmptyPayload>;
  leave: HandlerRef<EmptyPayload>;
} = {
  $state: 'reflex___state____state.board_state',
  increment: { $state: 'reflex___state____state.board_state', $handler: 'increment' },
  setLabel: { $state: 'reflex___state____state.board_state', $handler: 'setLabel' },
  explode: { $state: 'reflex___state____state.board_state', $handler: 'explode' },
  leave: { $state: 'reflex___state____state.board_state', $handler: 'leave' },
};

// The server runs in this test's process, under jsdom: its timers must be Node's (`unref()`), which browser code
// (React, socket.io-client) uses just as well.
Object.assign(globalThis, {
  setTimeout: nodeTimers.setTimeout,
  clearTimeout: nodeTimers.clearTimeout,
  setInterval: nodeTimers.setInterval,
  clearInterval: nodeTimers.clearInterval,
});

let app: INestApplication;
let url = '';

beforeAll(async () => {
  const moduleRef = await Test.createTestingModule({ imports: [ReflexBridgeModule.forRoot()], providers: [BoardState] }).compile();
  app = moduleRef.createNestApplication({ logger: false });
  await app.listen(0, '127.0.0.1');
  url = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
}, 60_000);

afterAll(async () => {
  await app?.close();
});

afterEach(() => cleanup());

/** Counts renders per component name. */
const renders = new Map<string, number>();
const rendered = (name: string): void => {
  renders.set(name, (renders.get(name) ?? 0) + 1);
};

function Status() {
  return h('p', { 'data-testid': 'status' }, useConnectionStatus());
}

function Counter() {
  rendered('Counter');
  const board = useReflexState(Board);
  const increment = useReflexEvent(Board.increment);
  return h('button', { 'data-testid': 'count', onClick: () => increment() }, board ? `count ${board.count}` : 'loading');
}

function Label() {
  rendered('Label');
  const label = useReflexVar(Board, 'label');
  const setLabel = useReflexEvent(Board.setLabel);
  return h('button', { 'data-testid': 'label', onClick: () => setLabel({ value: 'changed' }) }, `label ${label ?? '…'}`);
}

function Errors() {
  const { errors, dismiss } = useReflexErrors();
  const explode = useReflexEvent(Board.explode);
  return h(
    'div',
    null,
    h('button', { 'data-testid': 'explode', onClick: () => explode() }, 'explode'),
    h('button', { 'data-testid': 'dismiss', onClick: () => dismiss() }, 'dismiss'),
    h('ul', { 'data-testid': 'errors' }, ...errors.map((error, i) => h('li', { key: i }, error.code))),
  );
}

function Leave() {
  const leave = useReflexEvent(Board.leave);
  return h('button', { 'data-testid': 'leave', onClick: () => leave() }, 'leave');
}

function ClientProbe({ onClient }: { onClient: (client: ReflexClient) => void }) {
  const client = useReflexClient();
  useEffect(() => {
    onClient(client);
  }, [client, onClient]);
  return null;
}

function renderApp(navigate?: ReflexNavigate, onClient: (client: ReflexClient) => void = () => undefined) {
  return render(
    h(
      ReflexProvider,
      { options: { url, storage: null, reconnect: false }, navigate },
      h(Status),
      h(Counter),
      h(Label),
      h(Errors),
      h(Leave),
      h(ClientProbe, { onClient }),
    ),
  );
}

const READY = { timeout: 20_000 };

describe('ReflexProvider and the hooks, against a real server', () => {
  it('connects, shows the state, and sends typed events that change it', async () => {
    renderApp();
    await waitFor(() => expect(screen.getByTestId('status').textContent).toBe('ready'), READY);
    expect(screen.getByTestId('count').textContent).toBe('count 0');
    expect(screen.getByTestId('label').textContent).toBe('label start');
    fireEvent.click(screen.getByTestId('count'));
    await waitFor(() => expect(screen.getByTestId('count').textContent).toBe('count 1'), READY);
    fireEvent.click(screen.getByTestId('label'));
    await waitFor(() => expect(screen.getByTestId('label').textContent).toBe('label changed'), READY);
  }, 60_000);

  it('re-renders a component only when a var it reads changes', async () => {
    renderApp();
    await waitFor(() => expect(screen.getByTestId('status').textContent).toBe('ready'), READY);
    const labelRenders = renders.get('Label')!;
    fireEvent.click(screen.getByTestId('count'));
    await waitFor(() => expect(screen.getByTestId('count').textContent).toBe('count 1'), READY);
    // The count changed; the Label component reads only `label`.
    expect(renders.get('Label')).toBe(labelRenders);
    const counterRenders = renders.get('Counter')!;
    fireEvent.click(screen.getByTestId('label'));
    await waitFor(() => expect(screen.getByTestId('label').textContent).toBe('label changed'), READY);
    // The label changed; the Counter component read only `count` from useReflexState.
    expect(renders.get('Counter')).toBe(counterRenders);
  }, 60_000);

  it("shows the server's structured errors until dismissed", async () => {
    renderApp();
    await waitFor(() => expect(screen.getByTestId('status').textContent).toBe('ready'), READY);
    fireEvent.click(screen.getByTestId('explode'));
    await waitFor(() => expect(screen.getByTestId('errors').textContent).toBe('handler_error'), READY);
    fireEvent.click(screen.getByTestId('dismiss'));
    expect(screen.getByTestId('errors').textContent).toBe('');
  }, 60_000);

  it("routes the server's redirects through the app's navigate function", async () => {
    const paths: string[] = [];
    renderApp((path) => paths.push(path));
    await waitFor(() => expect(screen.getByTestId('status').textContent).toBe('ready'), READY);
    fireEvent.click(screen.getByTestId('leave'));
    await waitFor(() => expect(paths).toEqual(['/next']), READY);
  }, 60_000);

  it("hands the app's navigate only same-origin redirects, as a path; another origin loads as a page, as in Reflex", async () => {
    const paths: string[] = [];
    const loaded: string[] = [];
    const leaveTo = handlerRef<{ to: string }>('reflex___state____state.board_state', 'leaveTo');
    function Away() {
      const go = useReflexEvent(leaveTo);
      return h(
        'div',
        null,
        h('button', { 'data-testid': 'away', onClick: () => go({ to: 'https://elsewhere.example/login?x=1' }) }, 'away'),
        h('button', { 'data-testid': 'home', onClick: () => go({ to: `${window.location.origin}/cart?step=2#top` }) }, 'home'),
      );
    }
    render(
      h(
        ReflexProvider,
        { options: { url, storage: null, reconnect: false, onRedirect: (path) => loaded.push(path) }, navigate: (path) => paths.push(path) },
        h(Status),
        h(Away),
      ),
    );
    await waitFor(() => expect(screen.getByTestId('status').textContent).toBe('ready'), READY);
    fireEvent.click(screen.getByTestId('away'));
    await waitFor(() => expect(loaded).toEqual(['https://elsewhere.example/login?x=1']), READY);
    fireEvent.click(screen.getByTestId('home'));
    await waitFor(() => expect(paths).toEqual(['/cart?step=2#top']), READY);
    expect(loaded).toHaveLength(1);
  }, 60_000);

  it("never hands the app's navigate a path a router would take for another host (`//host/…`); the browser loads it", async () => {
    const paths: string[] = [];
    const loaded: string[] = [];
    const leaveTo = handlerRef<{ to: string }>('reflex___state____state.board_state', 'leaveTo');
    // Same-origin URLs whose path starts with `//`: as a page they stay on this origin; handed to a router as a path,
    // `//elsewhere.example/x` is a protocol-relative URL (React Router falls back to location.assign() for it).
    const targets = [`${window.location.origin}//elsewhere.example/x`, `${window.location.origin}/.//elsewhere.example/y`];
    function Away() {
      const go = useReflexEvent(leaveTo);
      return h('div', null, ...targets.map((to, i) => h('button', { key: i, 'data-testid': `away${i}`, onClick: () => go({ to }) }, 'away')));
    }
    render(
      h(
        ReflexProvider,
        { options: { url, storage: null, reconnect: false, onRedirect: (path) => loaded.push(path) }, navigate: (path) => paths.push(path) },
        h(Status),
        h(Away),
      ),
    );
    await waitFor(() => expect(screen.getByTestId('status').textContent).toBe('ready'), READY);
    fireEvent.click(screen.getByTestId('away0'));
    await waitFor(() => expect(loaded).toHaveLength(1), READY);
    fireEvent.click(screen.getByTestId('away1'));
    await waitFor(() => expect(loaded).toHaveLength(2), READY);
    expect(loaded).toEqual(targets);
    expect(paths).toEqual([]);
  }, 60_000);

  it('shows a remounted component the current vars from its first render, not those it saw before it unmounted', async () => {
    let client: ReflexClient | undefined;
    const onClient = (c: ReflexClient): void => {
      client = c;
    };
    const firstTexts: string[] = [];
    function Shown() {
      const board = useReflexState(Board);
      const text = board ? `count ${board.count}` : 'loading';
      firstTexts.push(text);
      return h('p', { 'data-testid': 'shown' }, text);
    }
    const tree = (show: boolean) => h(ReflexProvider, { options: { url, storage: null, reconnect: false } }, h(Status), h(ClientProbe, { onClient }), show ? h(Shown) : null);
    const view = render(tree(true));
    await waitFor(() => expect(screen.getByTestId('shown').textContent).toBe('count 0'), READY);
    view.rerender(tree(false));
    // The count changes while no component shows the state (another route is on screen).
    client!.call(Board.$state, 'increment');
    await client!.waitFor(Board.$state, (vars) => vars['count'] === 1, 20_000);
    firstTexts.length = 0;
    view.rerender(tree(true));
    expect(firstTexts[0]).toBe('count 1');
    expect(screen.getByTestId('shown').textContent).toBe('count 1');
  }, 60_000);

  it('disconnects the client it owns when unmounted', async () => {
    let client: ReflexClient | undefined;
    const view = renderApp(undefined, (c) => (client = c));
    await waitFor(() => expect(screen.getByTestId('status').textContent).toBe('ready'), READY);
    act(() => view.unmount());
    expect(client!.status).toBe('disconnected');
    expect(client!.connected).toBe(false);
  }, 60_000);

  it('keeps trying when the server is down as the page loads, shows each failure, and connects once it is up', async () => {
    // A port nothing listens on yet.
    const probe = createNetServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    function ConnectionLine() {
      const { connectionError } = useReflexErrors();
      return h('p', { 'data-testid': 'connection-error' }, connectionError ? connectionError.kind : 'none');
    }
    render(
      h(
        ReflexProvider,
        { options: { url: `http://127.0.0.1:${port}`, storage: null, reconnect: { baseDelayMs: 20, maxDelayMs: 200 } } },
        h(Status),
        h(ConnectionLine),
        h(Counter),
      ),
    );
    await waitFor(() => expect(screen.getByTestId('connection-error').textContent).toBe('connect_error'), READY);
    // Still trying, not given up: waiting for the next attempt (`reconnecting`) or, 20 ms later on a loaded machine,
    // already making it (`connecting`, as each attempt of a first connection is).
    expect(screen.getByTestId('status').textContent).toMatch(/^(reconnecting|connecting)$/);
    const moduleRef = await Test.createTestingModule({ imports: [ReflexBridgeModule.forRoot()], providers: [BoardState] }).compile();
    const late = moduleRef.createNestApplication({ logger: false });
    try {
      await late.listen(port, '127.0.0.1');
      await waitFor(() => expect(screen.getByTestId('status').textContent).toBe('ready'), READY);
      expect(screen.getByTestId('connection-error').textContent).toBe('none');
      expect(screen.getByTestId('count').textContent).toBe('count 0');
    } finally {
      cleanup();
      await late.close();
    }
  }, 60_000);

  it('shows a server that accepts the socket but never hydrates as a timeout, and tries again', async () => {
    const http = createHttpServer();
    const io = new SocketIoServer(http, { path: '/_event', transports: ['websocket'] });
    let connections = 0;
    io.of('/_event').on('connection', () => connections++);
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    function ConnectionLine() {
      const { connectionError } = useReflexErrors();
      return h('p', { 'data-testid': 'connection-error' }, connectionError ? connectionError.kind : 'none');
    }
    try {
      render(
        h(
          ReflexProvider,
          { options: { url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`, storage: null, connectTimeoutMs: 300 } },
          h(Status),
          h(ConnectionLine),
        ),
      );
      await waitFor(() => expect(screen.getByTestId('connection-error').textContent).toBe('timeout'), READY);
      // A bare client would stop here (`disconnected`); the provider's opens a new connection.
      await waitFor(() => expect(connections).toBeGreaterThanOrEqual(2), READY);
    } finally {
      cleanup();
      await new Promise<void>((resolve) => {
        void io.close(() => resolve());
      });
    }
  }, 60_000);

  it('shows refused events (guard, throttle, unknown handler) as typed errors, and an unknown state as undefined once ready', async () => {
    const secret = handlerRef(Board, 'secret');
    const once = handlerRef(Board, 'once');
    const missing = handlerRef(Board, 'missing');
    const ghost = stateRef<{ value: number }>('reflex___state____state.ghost_state');
    function Refusals() {
      const { errors } = useReflexErrors();
      const send = [useReflexEvent(secret), useReflexEvent(once), useReflexEvent(missing)];
      const vars = useReflexState(ghost);
      return h(
        'div',
        null,
        h('button', { 'data-testid': 'refused', onClick: () => [send[0]!(), send[1]!(), send[1]!(), send[2]!()] }, 'send'),
        h('p', { 'data-testid': 'ghost' }, vars === undefined ? 'undefined' : 'defined'),
        h('ul', { 'data-testid': 'refusals' }, ...errors.map((error, i) => h('li', { key: i }, `${error.code} ${error.status ?? '-'} ${(error.retryAfterMs ?? 0) > 0} ${error.event}`))),
      );
    }
    render(h(ReflexProvider, { options: { url, storage: null, reconnect: false } }, h(Status), h(Counter), h(Refusals)));
    await waitFor(() => expect(screen.getByTestId('status').textContent).toBe('ready'), READY);
    fireEvent.click(screen.getByTestId('refused'));
    await waitFor(() => expect(screen.getByTestId('refusals').children).toHaveLength(3), READY);
    const board = 'reflex___state____state.board_state';
    expect([...screen.getByTestId('refusals').children].map((li) => li.textContent)).toEqual([
      `forbidden 403 false ${board}.secret`,
      `rate_limited - true ${board}.once`,
      `unknown_handler - false ${board}.missing`,
    ]);
    // The first `once` ran; nothing else changed.
    await waitFor(() => expect(screen.getByTestId('count').textContent).toBe('count 100'), READY);
    expect(screen.getByTestId('ghost').textContent).toBe('undefined');
  }, 60_000);

  it('refuses a hook outside a provider with a clear message', () => {
    const quiet = console.error;
    console.error = () => undefined;
    try {
      expect(() => render(h(Counter))).toThrow('Reflex hooks need a <ReflexProvider> above the component.');
    } finally {
      console.error = quiet;
    }
  });
});
