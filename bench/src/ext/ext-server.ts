// Starts an ext bench server (ext-server-main.ts) as a harness ServerProcess, so measure()/measurePlan() of
// the harness use it unchanged.
import { ServerProcess } from '../harness/processes.js';
import { RpcChild, type ProcessWrapper } from '../harness/rpc.js';
import { serverNodeFlags } from '../harness/server-node-flags.js';
import type { ServerStarted } from '../harness/types.js';
import type { ExtServerConfig } from './ext-types.js';

const EXT_SERVER_MAIN = new URL('./ext-server-main.js', import.meta.url);

export interface ExtServer {
  server: ServerProcess;
  child: RpcChild;
}

/** ServerProcess's constructor is private to keep callers on `ServerProcess.start`; this one wraps our child. */
const ServerProcessOf = ServerProcess as unknown as new (child: RpcChild, url: string) => ServerProcess;

/** Starts an ext server with `config` (under `wrapper`, e.g. valgrind, when given). */
export async function startExtServer(label: string, config: ExtServerConfig, wrapper?: ProcessWrapper): Promise<ExtServer> {
  const child = RpcChild.fork(`server ${label}`, EXT_SERVER_MAIN, serverNodeFlags(), wrapper);
  try {
    const started = await child.call<ServerStarted>('start', config, wrapper ? 600_000 : 60_000);
    if ('unavailable' in started) throw new Error(started.unavailable);
    return { server: new ServerProcessOf(child, started.url), child };
  } catch (error) {
    await child.shutdown();
    throw error;
  }
}
