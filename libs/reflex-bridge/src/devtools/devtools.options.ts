/** The `devtools` section of the module options, when not just `true`. */
export interface DevtoolsOptions {
  /**
   * How many events each worker keeps (a ring buffer: the oldest is dropped first).
   * @default 500
   */
  maxEvents?: number;
  /**
   * Where the devtools page is served; the JSON routes, the event stream and the overlay script live under it.
   * Must lie outside the event path.
   * @default '/_bridge/devtools'
   */
  path?: string;
  /**
   * Log the tier advisor's findings once when the app shuts down.
   * @default true
   */
  logAdviceOnShutdown?: boolean;
  /**
   * Host names (as in the `Host` header, without port) the devtools answer to besides IP addresses, `localhost`
   * and `*.localhost`; a leading dot also allows subdomains (`'.dev.example'`). Any other name gets 403
   * `host_not_allowed`: a site the developer visits could otherwise point its own name at this machine (DNS
   * rebinding) and read every user's events and state. Add the name you open the app under when it is not one of
   * those.
   * @default []
   */
  allowedHosts?: string[];
}

/** The devtools options after defaults. */
export type ResolvedDevtoolsOptions = Required<DevtoolsOptions>;

/** The defaults of {@link DevtoolsOptions}. */
export const DEVTOOLS_DEFAULTS: ResolvedDevtoolsOptions = Object.freeze({ maxEvents: 500, path: '/_bridge/devtools', logAdviceOnShutdown: true, allowedHosts: [] });
