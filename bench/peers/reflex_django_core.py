#!/usr/bin/python3
"""The reflex-django stack's core, as a peer of the `tiers` benchmark.

What reflex-django's `full` tier does for every Reflex event, without the rest of Reflex: python-socketio on
uvicorn serves the `/_event` Socket.IO endpoint; for each `event` a Django `HttpRequest` is built from the
socket's handshake (cookies, headers, client address) and the event's `router_data`, Django's middleware
chain (SessionMiddleware + AuthenticationMiddleware) runs on it through a `BaseHandler` loaded in async mode
(as reflex-django's bridge does), the lazy user is resolved, and a handler checks the user, changes one small
var of the tab's state and emits the delta in Reflex's wire shape (`event` `{delta, events, final}`).

Django is configured in code. Sessions: the cache backend over Django's in-process LocMemCache, the closest to
the bench app's express-session MemoryStore (an in-process map; one read per event, no write when unchanged).
Users: django.contrib.auth's User model in SQLite (a file in a temporary directory), as a Django app has them;
the user is loaded by id on every event, as Django's auth middleware does.

`POST /login` (JSON `{username, password}`) is a Django view behind the same middleware; it answers the session
cookie the load generator then presents on its socket. `--bare` leaves Django out of the events (see
create_app). Started by the benchmark harness as a child process (bench/src/peers/python-peer.ts): it prints one
JSON line `{"listening": port, ...}` on stdout once it accepts connections, and exits when its stdin closes (the
harness went away). Bench code: never for production.
"""

import asyncio
import json
import os
import shutil
import socket
import sys
import tempfile
import threading

ROOT = 'reflex___state____state'
ON_LOAD_INTERNAL = f'{ROOT}.reflex___state____on_load_internal_state.on_load_internal'
# The state the peer answers for (bench/src/peers/peer-wire.ts); the load generator reads only `delta`.
PEER_STATE = f'{ROOT}.peer_state'
NAMESPACE = '/_event'
BENCH_USER = ('bench', 'bench-password')


def configure_django(database_path):
    """Settings in code, the apps' tables created, and the bench user added."""
    import django
    from django.conf import settings

    settings.configure(
        DEBUG=False,
        SECRET_KEY='bench secret, not for production',
        ALLOWED_HOSTS=['*'],
        ROOT_URLCONF=__name__,
        USE_TZ=True,
        INSTALLED_APPS=['django.contrib.contenttypes', 'django.contrib.auth', 'django.contrib.sessions'],
        # reflex-django's `full` tier runs settings.MIDDLEWARE minus CSRF; this app's list is the session + auth core.
        MIDDLEWARE=[
            'django.contrib.sessions.middleware.SessionMiddleware',
            'django.contrib.auth.middleware.AuthenticationMiddleware',
        ],
        DATABASES={'default': {'ENGINE': 'django.db.backends.sqlite3', 'NAME': database_path}},
        CACHES={'default': {'BACKEND': 'django.core.cache.backends.locmem.LocMemCache'}},
        SESSION_ENGINE='django.contrib.sessions.backends.cache',
        # Only the logins during set-up hash a password; a fast hasher keeps set-up short (never measured).
        PASSWORD_HASHERS=['django.contrib.auth.hashers.MD5PasswordHasher'],
        LOGGING_CONFIG=None,
    )
    django.setup()
    from django.core.management import call_command
    from django.contrib.auth.models import User

    call_command('migrate', verbosity=0, interactive=False)
    User.objects.create_user(BENCH_USER[0], password=BENCH_USER[1])


def login_view(request):
    """`POST /login` with JSON `{username, password}`: Django's own authenticate + login (sets the session cookie)."""
    from django.contrib.auth import authenticate, login
    from django.http import JsonResponse

    try:
        body = json.loads(request.body or b'{}')
    except ValueError:
        return JsonResponse({'ok': False}, status=400)
    user = authenticate(request, username=body.get('username'), password=body.get('password'))
    if user is None:
        return JsonResponse({'ok': False}, status=401)
    login(request, user)
    return JsonResponse({'ok': True})


urlpatterns = []  # filled in main(), once Django is configured


def build_event_middleware_handler():
    """A Django `BaseHandler` whose middleware chain (async mode) ends in an empty 200: the bridge's chain."""
    from django.core.handlers.base import BaseHandler
    from django.http import HttpResponse

    class EventMiddlewareHandler(BaseHandler):
        def _get_response(self, request):
            return HttpResponse(status=200)

        async def _get_response_async(self, request):
            return HttpResponse(status=200)

    handler = EventMiddlewareHandler()
    handler.load_middleware(is_async=True)
    return handler


def handshake_meta(environ):
    """The request headers and client address of the socket's handshake, kept for its events' requests."""
    meta = {key: value for key, value in environ.items() if key.startswith('HTTP_') and isinstance(value, str)}
    meta['REMOTE_ADDR'] = environ.get('REMOTE_ADDR', '')
    meta['SERVER_NAME'] = '127.0.0.1'
    meta['SERVER_PORT'] = environ.get('SERVER_PORT', '80')
    return meta


def build_request(meta, router_data):
    """A synthetic Django request for one event: the handshake's headers and cookies, the page's path and query."""
    from django.http import HttpRequest, QueryDict
    from django.http.cookie import parse_cookie

    request = HttpRequest()
    request.method = 'GET'
    pathname = router_data.get('pathname') if isinstance(router_data, dict) else None
    request.path = request.path_info = pathname if isinstance(pathname, str) and pathname.startswith('/') else '/'
    request.META = dict(meta)
    request.COOKIES = parse_cookie(meta.get('HTTP_COOKIE', ''))
    query = router_data.get('query') if isinstance(router_data, dict) else None
    request.GET = QueryDict(mutable=True)
    if isinstance(query, dict):
        for key, value in query.items():
            if isinstance(key, str) and isinstance(value, str):
                request.GET[key] = value
    return request


def create_app(bare):
    """The ASGI app: Socket.IO on `/_event`, everything else (`POST /login`) to Django.

    With `bare`, events skip the request, the middleware and the user: python-socketio on uvicorn alone, to tell
    the transport's share of the cost from Django's.
    """
    import socketio
    from asgiref.sync import sync_to_async
    from django.contrib.auth import get_user
    from django.core.asgi import get_asgi_application

    sio = socketio.AsyncServer(async_mode='asgi', cors_allowed_origins='*', transports=['websocket'])
    handler = build_event_middleware_handler()
    # Django 5's `aget_user(request)` (what reflex-django awaits) is `sync_to_async(get_user)(request)`.
    aget_user = sync_to_async(get_user)
    connections = {}

    @sio.event(namespace=NAMESPACE)
    async def connect(sid, environ, auth=None):
        connections[sid] = {'meta': handshake_meta(environ), 'count': 0}

    @sio.event(namespace=NAMESPACE)
    async def disconnect(sid):
        connections.pop(sid, None)

    async def fail(sid, code, message):
        await sio.emit('bridge_error', {'code': code, 'message': message}, to=sid, namespace=NAMESPACE)

    @sio.on('event', namespace=NAMESPACE)
    async def on_event(sid, frame):
        connection = connections.get(sid)
        if connection is None or not isinstance(frame, dict) or not isinstance(frame.get('name'), str):
            await fail(sid, 'bad_event', 'expected {name, payload, router_data}')
            return
        if frame['name'] == ON_LOAD_INTERNAL:
            await sio.emit('event', {'delta': {ROOT: {'is_hydrated_rx_state_': True}}, 'events': [], 'final': True}, to=sid, namespace=NAMESPACE)
            return
        if not bare:
            request = build_request(connection['meta'], frame.get('router_data'))
            response = await handler._middleware_chain(request)
            request.user = await aget_user(request)
            if response.status_code >= 300 or not request.user.is_authenticated:
                await fail(sid, 'unauthenticated', 'the event request has no logged-in user')
                return
        connection['count'] += 1
        delta = {'delta': {PEER_STATE: {'count_rx_state_': connection['count']}}, 'events': [], 'final': True}
        await sio.emit('event', delta, to=sid, namespace=NAMESPACE)

    return socketio.ASGIApp(sio, other_asgi_app=get_asgi_application(), socketio_path='_event')


def exit_when_stdin_closes(database_dir):
    """The harness holds our stdin open; when it goes away (even killed), so does this process."""
    sys.stdin.buffer.read()
    shutil.rmtree(database_dir, ignore_errors=True)
    os._exit(0)


def main():
    import uvicorn
    from django.urls import path

    database_dir = tempfile.mkdtemp(prefix='reflex-django-peer-')
    configure_django(os.path.join(database_dir, 'peer.sqlite3'))
    urlpatterns.append(path('login', login_view))
    app = create_app(bare='--bare' in sys.argv[1:])

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(('127.0.0.1', 0))
    port = listener.getsockname()[1]
    # 'auto' picks uvloop, httptools and websockets when they are installed, else asyncio, h11 and wsproto.
    config = uvicorn.Config(app, lifespan='off', log_level='warning', access_log=False)
    server = uvicorn.Server(config)
    threading.Thread(target=exit_when_stdin_closes, args=(database_dir,), daemon=True).start()

    async def serve():
        task = asyncio.ensure_future(server.serve(sockets=[listener]))
        while not server.started:
            if task.done():
                await task
                return
            await asyncio.sleep(0.05)
        config_loaded = server.config
        versions = {
            'listening': port,
            'loop': type(asyncio.get_event_loop()).__module__,
            'http': getattr(config_loaded.http_protocol_class, '__module__', '?'),
            'ws': getattr(config_loaded.ws_protocol_class, '__module__', '?'),
            'python': sys.version.split()[0],
        }
        print(json.dumps(versions), flush=True)
        await task

    config.setup_event_loop()  # installs uvloop's policy when 'auto' found it
    asyncio.run(serve())

if __name__ == '__main__':
    main()
