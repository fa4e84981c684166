/**
 * Thrown at startup when the app's HTTP adapter is not Express: the module's routes (`/ping`, `/_health`,
 * `/_upload`, `/_bridge/...`) and the bridged request are Express handlers and objects. The message names the
 * adapter found and the requirement.
 * @publicApi
 */
export class UnsupportedHttpAdapterError extends Error {
  constructor(readonly adapterType: string) {
    super(
      `ReflexBridgeModule needs Nest's Express HTTP adapter (@nestjs/platform-express, what NestFactory.create uses by default), ` +
        `and this app runs on the ${JSON.stringify(adapterType)} adapter: its routes (/ping, /_health, /_upload, /_bridge/...) and the ` +
        `requests it bridges for events are Express's. Create the app without an adapter, or with new ExpressAdapter().`,
    );
    this.name = 'UnsupportedHttpAdapterError';
  }
}
