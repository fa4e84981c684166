import { describe, expect, it } from '@jest/globals';
import { EventEmitter } from 'node:events';
import { SyntheticRequest } from './synthetic-request.js';
import { SyntheticResponse } from './synthetic-response.js';

const request = () =>
  new SyntheticRequest({ path: '/cart', query: { page: '2' }, headers: { cookie: 'a=1; b=2', host: 'shop.test' }, ip: '10.0.0.9', remoteAddress: '10.0.0.8', secure: true });

describe('SyntheticRequest', () => {
  it('reads like an Express request, its fields made on first read included', () => {
    const req = request();
    expect(req).toBeInstanceOf(EventEmitter);
    expect(req.method).toBe('GET');
    expect(req.httpVersion).toBe('1.1');
    expect(req.isReflexEvent).toBe(true);
    expect(req.app).toBeUndefined();
    expect(req.url).toBe('/cart?page=2');
    expect(req.cookies).toEqual({ a: '1', b: '2' });
    expect(req.ips).toEqual(['10.0.0.9']);
    expect(req.socket).toEqual({ remoteAddress: '10.0.0.8', encrypted: true });
    expect(req.connection).toBe(req.socket);
    expect(req.params).toEqual({});
    expect(req.body).toEqual({});
    expect(req.get('Host')).toBe('shop.test');
  });

  it('keeps what middleware writes, and gives each request its own objects', () => {
    const first = request();
    const second = request();
    first.cookies.a = 'changed';
    first.body = { parsed: true };
    (first as { method: string }).method = 'POST';
    first.params.id = '7';
    expect(first.cookies.a).toBe('changed');
    expect(first.body).toEqual({ parsed: true });
    expect(first.method).toBe('POST');
    expect(first.params).toEqual({ id: '7' });
    expect(second.cookies.a).toBe('1');
    expect(second.body).toEqual({});
    expect(second.method).toBe('GET');
    expect(second.params).toEqual({});
    expect(Object.keys(first)).toEqual(expect.arrayContaining(['cookies', 'body', 'method', 'params']));
  });

  it('is an event emitter from its first listener on', () => {
    const req = request();
    const heard: unknown[] = [];
    expect(req.emit('close')).toBe(false);
    req.on('close', (why: unknown) => heard.push(why));
    req.once('end', () => heard.push('end'));
    req.emit('close', 'gone');
    req.emit('end');
    req.emit('end');
    expect(heard).toEqual(['gone', 'end']);
    expect(req.listenerCount('close')).toBe(1);
    expect(() => req.emit('error', new Error('boom'))).toThrow('boom');
  });

  it('adds listeners every way Node does, first or last, once or always', () => {
    for (const add of ['on', 'addListener', 'once', 'prependListener', 'prependOnceListener'] as const) {
      const req = request();
      const heard: string[] = [];
      req.on('data', () => heard.push('on'));
      req[add]('data', () => heard.push(add));
      req.emit('data');
      req.emit('data');
      const first = add.startsWith('prepend') ? [add, 'on'] : ['on', add];
      const second = add.toLowerCase().includes('once') ? ['on'] : first;
      expect(heard).toEqual([...first, ...second]);
      // The listener table has no prototype, as Node's own: an event named `toString` is an ordinary event.
      expect(Object.getPrototypeOf((req as unknown as { _events: object })._events)).toBeNull();
    }
  });
});

describe('SyntheticResponse', () => {
  it('records headers, status and body, and emits finish once ended', () => {
    const res = new SyntheticResponse();
    expect(res).toBeInstanceOf(EventEmitter);
    expect(res.getHeader('set-cookie')).toBeUndefined();
    expect(res.getHeaders()).toEqual({});
    expect(res.hasHeader('x')).toBe(false);
    let finished = 0;
    res.on('finish', () => finished++);
    res.setHeader('Set-Cookie', ['a=1']);
    res.writeHead(201, 'Created', { 'X-Id': '7' });
    res.end('done');
    res.end('again');
    expect(res.statusCode).toBe(201);
    expect(res.getHeaders()).toEqual({ 'set-cookie': ['a=1'], 'x-id': '7' });
    expect(res.setCookies()).toEqual(['a=1']);
    expect(res.body).toBe('done');
    expect(finished).toBe(1);
    res.removeHeader('x-id');
    expect(res.hasHeader('x-id')).toBe(false);
  });

  it('takes writeHead headers as the second argument too, and gives each response its own locals', () => {
    const res = new SyntheticResponse();
    res.writeHead(302, { Location: '/login' });
    expect(res.getHeader('location')).toBe('/login');
    expect(res.headersSent).toBe(true);
    const other = new SyntheticResponse();
    res.locals.user = 'ada';
    expect(res.locals).toEqual({ user: 'ada' });
    expect(other.locals).toEqual({});
    other.locals = { replaced: true };
    expect(other.locals).toEqual({ replaced: true });
  });
});
