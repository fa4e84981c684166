import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { createContext, runInContext } from 'node:vm';
import {
  blurFocus,
  callFunction,
  callScript,
  clearLocalStorage,
  clearSessionStorage,
  consoleLog,
  download,
  isClientEvent,
  redirect,
  removeCookie,
  removeLocalStorage,
  removeSessionStorage,
  runScript,
  setFocus,
  setValue,
  toast,
  windowAlert,
  type ClientEvent,
} from './client-event.js';
import { jsString, jsValue } from './js-literal.js';

/** What a fake browser saw while running one client event's function. */
interface Run {
  alerts: unknown[][];
  toasts: Array<{ method: string; args: unknown[] }>;
  logs: unknown[][];
  pwned: number;
  /** Globals that exist after the run and did not before. */
  newGlobals: string[];
  result: unknown;
}

/**
 * Runs a `_call_function` event the way state.js does (`eval(payload.function)()`, in strict code, as state.js is
 * an ES module) in a fresh V8 context holding fakes of what the code may use, and a `pwned` trap.
 */
function runInBrowser(event: ClientEvent, options: { toaster?: boolean } = {}): Run {
  const run: Run = { alerts: [], toasts: [], logs: [], pwned: 0, newGlobals: [], result: undefined };
  const toaster = Object.assign((...args: unknown[]) => void run.toasts.push({ method: '', args }), {
    error: (...args: unknown[]) => void run.toasts.push({ method: 'error', args }),
    success: (...args: unknown[]) => void run.toasts.push({ method: 'success', args }),
  });
  const sandbox: Record<string, unknown> = {
    window: { alert: (...args: unknown[]) => void run.alerts.push(args) },
    console: { log: (...args: unknown[]) => void run.logs.push(args), error: () => undefined },
    pwned: () => void run.pwned++,
  };
  if (options.toaster) sandbox.refs = { __toast: toaster };
  const context = createContext(sandbox);
  const before = new Set(Object.keys(sandbox));
  expect(event.name).toBe('_call_function');
  const fn = runInContext(`"use strict";\n${event.payload.function as string}`, context) as () => unknown;
  expect(typeof fn).toBe('function');
  run.result = fn();
  run.newGlobals = Object.keys(sandbox).filter((key) => !before.has(key));
  return run;
}

/** Text built to break out of a string literal, a script element or a line, mixed into arbitrary strings. */
const hostileText = fc
  .array(
    fc.oneof(
      fc.string({ unit: 'binary', maxLength: 8 }),
      fc.constantFrom('"', "'", '`', '\\', '${pwned()}', '"); pwned(); ("', '\\"); pwned(); //', '</script><script>pwned()</script>', '<!--', '\u2028pwned()', '\u2029', '\n', '\r', '*/pwned()/*', '\ud800', '\udfff', '__proto__'),
    ),
    { maxLength: 6 },
  )
  .map((parts) => parts.join(''));

describe('client event helpers: the exact frames state.js expects', () => {
  it('builds each frame with the names and payload keys of state.js', () => {
    expect(redirect('/done', { replace: true })).toEqual({ name: '_redirect', payload: { path: '/done', external: false, popup: false, replace: true } });
    expect(callFunction('() => 1')).toEqual({ name: '_call_function', payload: { function: '() => 1', callback: null } });
    expect(callFunction('() => 1', { callback: '(r) => r' })).toEqual({ name: '_call_function', payload: { function: '() => 1', callback: '(r) => r' } });
    expect(runScript('window.print()')).toEqual({ name: '_call_function', payload: { function: '(() => (\nwindow.print()\n))', callback: null } });
    expect(callScript('a(); b()')).toEqual({ name: '_call_script', payload: { javascript_code: 'a(); b()', callback: null } });
    expect(consoleLog('hi')).toEqual({ name: '_call_function', payload: { function: '(() => (console.log("hi")))', callback: null } });
    expect(windowAlert('hi')).toEqual({ name: '_call_function', payload: { function: '(() => (window.alert("hi")))', callback: null } });
    expect(setFocus('name-input')).toEqual({ name: '_set_focus', payload: { ref: 'ref_name_input' } });
    expect(blurFocus('a b--c')).toEqual({ name: '_blur_focus', payload: { ref: 'ref_a_b_c' } });
    expect(setValue('search', '')).toEqual({ name: '_set_value', payload: { ref: 'ref_search', value: '' } });
    expect(download('/files/report.pdf?v=2')).toEqual({ name: '_download', payload: { url: '/files/report.pdf?v=2', filename: 'report.pdf' } });
    expect(download('/f/1', { filename: 'one.txt' })).toEqual({ name: '_download', payload: { url: '/f/1', filename: 'one.txt' } });
    expect(download({ data: 'a,b\n', filename: 'x.csv', mimeType: 'text/csv' })).toEqual({ name: '_download', payload: { url: 'data:text/csv;base64,YSxiCg==', filename: 'x.csv' } });
    expect(download({ data: new Uint8Array([1, 2]) })).toEqual({ name: '_download', payload: { url: 'data:application/octet-stream;base64,AQI=', filename: '' } });
    expect(removeCookie('theme')).toEqual({ name: '_remove_cookie', payload: { key: 'theme', options: { path: '/' } } });
    expect(removeCookie('theme', { path: '/shop', secure: true })).toEqual({ name: '_remove_cookie', payload: { key: 'theme', options: { path: '/shop', secure: true } } });
    expect(clearLocalStorage()).toEqual({ name: '_clear_local_storage', payload: {} });
    expect(removeLocalStorage('k')).toEqual({ name: '_remove_local_storage', payload: { key: 'k' } });
    expect(clearSessionStorage()).toEqual({ name: '_clear_session_storage', payload: {} });
    expect(removeSessionStorage('k')).toEqual({ name: '_remove_session_storage', payload: { key: 'k' } });
  });

  it('builds toasts as Reflex does: through refs["__toast"], with level, options and an optional alert fallback', () => {
    expect(toast('Saved')).toEqual({
      name: '_call_function',
      payload: { function: '(() => (typeof refs !== "undefined" && refs !== null && refs["__toast"] ? refs["__toast"]("Saved") : undefined))', callback: null },
    });
    const run = runInBrowser(toast('Saved', { level: 'success', duration: 2000 }), { toaster: true });
    expect(run.toasts).toEqual([{ method: 'success', args: ['Saved', { duration: 2000 }] }]);
    expect(runInBrowser(toast('Saved'), {}).alerts).toEqual([]);
    const fallback = runInBrowser(toast('Failed', { level: 'error', fallbackToAlert: true, description: 'Try again.' }));
    expect(fallback.alerts).toEqual([['Failed\nTry again.']]);
  });

  it('refuses download URLs that would run as code, and empty script sources', () => {
    expect(() => download('javascript:alert(1)')).toThrow(TypeError);
    expect(() => download(' JavaScript:alert(1)')).toThrow(TypeError);
    expect(() => download('/x/getBackendURL(env.UPLOAD)')).toThrow(TypeError);
    expect(() => download({ data: 'x', mimeType: 'text/html;base64,PHNjcmlwdD4' })).toThrow(TypeError);
    expect(() => callFunction('  ')).toThrow(TypeError);
    expect(() => setFocus('')).toThrow(TypeError);
  });

  it('recognises only the event names state.js runs', () => {
    expect(isClientEvent(toast('x'))).toBe(true);
    expect(isClientEvent({ name: '_bridge_session_cookie', payload: {} })).toBe(false);
    expect(isClientEvent({ name: 'app.state.handler', payload: {} })).toBe(false);
    expect(isClientEvent({ name: '_redirect', payload: null })).toBe(false);
  });
});

describe('data in evaluated JavaScript', () => {
  it('arrives unchanged and nothing else runs, whatever the text (alert, console, toast with options)', () => {
    fc.assert(
      fc.property(hostileText, hostileText, (message, description) => {
        const alert = runInBrowser(windowAlert(message));
        expect(alert.alerts).toEqual([[message]]);
        const log = runInBrowser(consoleLog(message));
        expect(log.logs).toEqual([[message]]);
        const shown = runInBrowser(toast(message, { level: 'error', description, id: description }), { toaster: true });
        expect(shown.toasts).toEqual([{ method: 'error', args: [message, { description, id: description }] }]);
        const fallback = runInBrowser(toast(message, { level: 'error', fallbackToAlert: true }));
        expect(fallback.alerts).toEqual([[message]]);
        for (const run of [alert, log, shown, fallback]) {
          expect(run.pwned).toBe(0);
          expect(run.newGlobals).toEqual([]);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('never lets "</script>", "<!--" or a line separator appear in the source', () => {
    fc.assert(
      fc.property(hostileText, (text) => {
        for (const source of [jsString(text), jsValue({ [text]: text }), toast(text, { description: text }).payload.function as string]) {
          expect(source).not.toMatch(/<\/script|<!--|[\u2028\u2029]/i);
        }
      }),
    );
  });

  it('keeps keys such as __proto__ plain properties', () => {
    const context = createContext({});
    const value = runInContext(jsValue(JSON.parse('{"__proto__": {"polluted": true}, "a": 1}')), context) as Record<string, unknown>;
    expect(Object.keys(value)).toEqual(['__proto__', 'a']);
    expect((value as { polluted?: boolean }).polluted).toBeUndefined();
    expect(jsValue(Number.NaN)).toBe('null');
    expect(jsValue(true)).toBe('true');
  });
});
