/** The `devtools` section of the module options, when not just `true`. */
export interface DevtoolsOptions {
  /**
   * How many events each worker keeps (a ring buffer: the oldest is dropped first). At most
   * {@link MAX_DEVTOOLS_EVENTS}.
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
  /**
   * Event streams (`<path>/stream`) open on each worker at most, all clients together; one more gets 503
   * `devtools_streams_busy`. Each open stream may hold up to 1 MiB its client has not read yet, so this bounds what
   * the streams hold to `maxStreams` MiB. At most {@link MAX_DEVTOOLS_STREAMS}.
   * @default 64
   */
  maxStreams?: number;
  /**
   * Event streams open from one client address at most (the address as `rateLimit` counts it); one more gets 429
   * `too_many_streams`. The overlay follows one stream per browser (per tab only where the page has no Web Locks),
   * and the page one, so a developer needs a few; a script on the network could otherwise open thousands. At most
   * {@link MAX_DEVTOOLS_STREAMS}.
   * @default 8
   */
  maxStreamsPerAddress?: number;
}

/** The devtools options after defaults. */
export type ResolvedDevtoolsOptions = Required<DevtoolsOptions>;

/** The defaults of {@link DevtoolsOptions}. */
export const DEVTOOLS_DEFAULTS: ResolvedDevtoolsOptions = Object.freeze({ maxEvents: 500, path: '/_bridge/devtools', logAdviceOnShutdown: true, allowedHosts: [], maxStreams: 64, maxStreamsPerAddress: 8 });

/**
 * The largest `devtools.maxEvents`. Each held event takes 1-2 kB (50 kB and more with many steps and queries), so
 * this is already 100 MB to GBs per worker once the ring is full; past 2**32 - 1 the ring could not even be made
 * (a bare `RangeError: Invalid array length` when the devtools service was created).
 */
export const MAX_DEVTOOLS_EVENTS = 100_000;

/**
 * The largest `devtools.maxStreams` and `devtools.maxStreamsPerAddress`: each open stream may hold 1 MiB its client
 * has not read, so 1024 streams may hold 1 GiB; a devtools page needs one or two.
 */
export const MAX_DEVTOOLS_STREAMS = 1024;
