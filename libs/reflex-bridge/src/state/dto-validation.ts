import type * as ClassTransformer from 'class-transformer';
import type * as ClassValidator from 'class-validator';
import { BridgeError } from '../protocol/bridge-error.js';
import { detailText, MAX_DETAILS } from './refusal-details.js';

/** What a DTO's check needs of class-transformer and class-validator. */
interface Validation {
  plainToInstance: typeof ClassTransformer.plainToInstance;
  validate: typeof ClassValidator.validate;
}

let loading: Promise<Validation> | undefined;

/**
 * class-transformer and class-validator, imported with the first DTO to validate rather than with the module: an
 * app whose handlers take no DTO never loads them (about 4 MB of heap and 100 ms at start). An app that declares
 * DTOs imported class-validator for their decorators already, so the import is then only a lookup.
 */
function validation(): Promise<Validation> {
  loading ??= Promise.all([import('class-transformer'), import('class-validator')]).then(
    ([transformer, validator]) => ({ plainToInstance: transformer.plainToInstance, validate: validator.validate }),
    (error: unknown) => {
      loading = undefined;
      throw new Error('Validating a handler parameter typed with a DTO class needs the "class-validator" and "class-transformer" packages', { cause: error });
    },
  );
  return loading;
}

/** The failed constraints of `errors` by their paths, the first {@link MAX_DETAILS} of them (see `refusal-details.ts`). */
function flatten(errors: ClassValidator.ValidationError[], into: string[] = [], prefix = ''): string[] {
  for (const error of errors) {
    const path = prefix + error.property;
    for (const message of Object.values(error.constraints ?? {})) {
      if (into.length === MAX_DETAILS) return into;
      into.push(detailText(`${path}: ${message}`));
    }
    flatten(error.children ?? [], into, `${path}.`);
    if (into.length === MAX_DETAILS) return into;
  }
  return into;
}

/**
 * `value` (a plain object of the payload) as an instance of the DTO class `type`, once class-validator found it
 * valid: only the properties the DTO declares (an undeclared one is an error), each passing its constraints. Rejects
 * with `invalid_payload` listing the failed constraints by their paths (the first 20, each cut to 300 characters).
 */
export async function validateDto(type: new () => object, value: object, label: string): Promise<object> {
  const { plainToInstance, validate } = await validation();
  const instance = plainToInstance(type, value);
  const errors = await validate(instance, { whitelist: true, forbidNonWhitelisted: true, forbidUnknownValues: false });
  if (errors.length) throw new BridgeError('invalid_payload', `${label} failed validation.`, flatten(errors));
  return instance;
}
