/** Thrown at startup for an invalid module option; the message names the option. @publicApi */
export class InvalidOptionError extends Error {
  constructor(option: string, problem: string) {
    super(`ReflexBridgeModule: invalid option "${option}": ${problem}`);
    this.name = 'InvalidOptionError';
  }
}
