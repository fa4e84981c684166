import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '../../..');

/** The pages whose install command a user copies: the repository's README and the package's own. */
const pages = ['README.md', 'libs/reflex-bridge/README.md'];

/** The `socket.io` of the `npm install @reflex-bridge/nest ...` command on `page`: `socket.io@<version>`, or `socket.io`. */
function socketIoOfInstallLine(page: string): string | undefined {
  const text = readFileSync(join(repo, page), 'utf8');
  const command = /^npm install @reflex-bridge\/nest(?:[^\n]*\\\n)*[^\n]*/m.exec(text)?.[0];
  return command?.split(/\s+/).find((word) => word === 'socket.io' || word.startsWith('socket.io@'));
}

describe('the install command', () => {
  // @nestjs/platform-socket.io depends on one exact socket.io. Another version installed beside it is a second copy
  // whose `Server` and `ServerOptions` types are not IoAdapter's: the app runs, but a WebSocket adapter of its own
  // (Nest's Redis adapter recipe, extending BridgeIoAdapter) does not compile.
  const pinned = (JSON.parse(readFileSync(join(repo, 'node_modules/@nestjs/platform-socket.io/package.json'), 'utf8')) as { dependencies: Record<string, string> })
    .dependencies['socket.io'];

  it.each(pages)('in %s installs the socket.io that @nestjs/platform-socket.io pins', (page) => {
    expect(pinned).toMatch(/^\d+\.\d+\.\d+$/);
    expect(socketIoOfInstallLine(page)).toBe(`socket.io@${pinned}`);
  });
});
