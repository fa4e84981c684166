import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { carriesRouterVar, routerVarsShapeFor, withSplitRouterVars } from './router-vars-shape.js';
import { ROOT_STATE_NAME } from './state-naming.js';
import type { StateUpdate } from './state-update.js';

const ROUTER = {
  session: { client_token: 'tab-1', client_ip: '10.0.0.7', session_id: 'sid-1' },
  headers: { host: 'shop.example', user_agent: 'Firefox', raw_headers: { host: 'shop.example' } },
  page: { host: 'https://shop.example', path: '/product/[id]', raw_path: '/product/7?x=1', full_path: 'https://shop.example/product/[id]', full_raw_path: 'https://shop.example/product/7?x=1', params: { id: '7' } },
  url: { scheme: 'https', netloc: 'shop.example', origin: 'https://shop.example', path: '/product/7', query: 'x=1', query_parameters: { x: '1' }, fragment: '', href: 'https://shop.example/product/7?x=1' },
  route_id: '/product/[id]',
};

describe('routerVarsShapeFor', () => {
  it('splits for a client announcing Reflex 0.9.12 or later, in every form Reflex writes its version', () => {
    for (const version of ['0.9.12', '0.9.12a1', '0.9.12.post1', '0.9.12.dev3', '0.9.13', '0.10.0', '1.0', ' 0.9.12', '0.9.12, chat']) {
      expect([version, routerVarsShapeFor('auto', version)]).toEqual([version, 'split']);
    }
  });

  it('keeps the combined var for older Reflex versions, other protocols, and clients announcing none', () => {
    for (const version of ['0.9.11.post1', '0.9.11', '0.9.8.post1', '0.9', '0.8.27', 'chat, 0.9.12', 'graphql-ws', '2', '', 'v0.9.12', undefined]) {
      expect([version, routerVarsShapeFor('auto', version)]).toEqual([version, 'combined']);
    }
  });

  it('follows the option when it names a shape, whatever the client announces', () => {
    expect(routerVarsShapeFor('combined', '0.9.12')).toBe('combined');
    expect(routerVarsShapeFor('split', undefined)).toBe('split');
    expect(routerVarsShapeFor('split', '0.9.8')).toBe('split');
  });

  it('answers as a version comparison would for any version, and never throws on any header text', () => {
    const part = fc.integer({ min: 0, max: 999_999_999 });
    fc.assert(
      fc.property(part, part, fc.option(part, { nil: undefined }), fc.constantFrom('', 'a1', '.post1', '.dev2', 'rc1'), (major, minor, patch, suffix) => {
        const text = `${major}.${minor}${patch === undefined ? '' : `.${patch}`}${suffix}`;
        const [a, b, c] = [major, minor, patch ?? 0];
        const later = a !== 0 ? a > 0 : b !== 9 ? b > 9 : c >= 12;
        expect(routerVarsShapeFor('auto', text)).toBe(later ? 'split' : 'combined');
      }),
    );
    fc.assert(fc.property(fc.string({ maxLength: 300 }), (text) => expect(['split', 'combined']).toContain(routerVarsShapeFor('auto', text))));
    // Digits beyond what the pattern reads are not a version (no number that loses precision).
    expect(routerVarsShapeFor('auto', '99999999999999999999.0')).toBe('combined');
  });
});

describe('withSplitRouterVars', () => {
  const update = (): StateUpdate => ({
    delta: {
      [ROOT_STATE_NAME]: { is_hydrated_rx_state_: false, router_rx_state_: ROUTER },
      [`${ROOT_STATE_NAME}.counter_state`]: { count_rx_state_: 3 },
    },
  });

  it('replaces the root state\'s router var with one var per part, as Reflex 0.9.12 sends them', () => {
    const given = update();
    const split = withSplitRouterVars(given);
    expect(split.delta).toEqual({
      [ROOT_STATE_NAME]: {
        is_hydrated_rx_state_: false,
        rx_router_session_rx_state_: ROUTER.session,
        rx_router_headers_rx_state_: ROUTER.headers,
        rx_router_page_rx_state_: ROUTER.page,
        rx_router_url_rx_state_: ROUTER.url,
        rx_router_route_id_rx_state_: '/product/[id]',
      },
      [`${ROOT_STATE_NAME}.counter_state`]: { count_rx_state_: 3 },
    });
    // The update given may be another client's too: left as it was.
    expect(given).toEqual(update());
  });

  it('keeps client events that travel with the delta', () => {
    const events = [{ name: '_redirect', payload: { path: '/' } }];
    expect(withSplitRouterVars({ ...update(), events }).events).toBe(events);
  });

  it('tells which updates carry the router var', () => {
    expect(carriesRouterVar(update())).toBe(true);
    expect(carriesRouterVar({ delta: { [ROOT_STATE_NAME]: { is_hydrated_rx_state_: true } } })).toBe(false);
    expect(carriesRouterVar({ delta: { [`${ROOT_STATE_NAME}.counter_state`]: { count_rx_state_: 1 } } })).toBe(false);
    expect(carriesRouterVar({ events: [] })).toBe(false);
  });
});
