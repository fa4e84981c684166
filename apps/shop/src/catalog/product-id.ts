/**
 * The largest value an `integer` column holds (Postgres: 32 bits, signed): product ids and prices in cents. Postgres
 * refuses a larger or fractional number in a query with an error, where SQLite answers "no row": bounding them here
 * keeps a client's number from becoming a database error.
 */
export const MAX_INTEGER_COLUMN = 2_147_483_647;

/** Whether `value` can be a product's id (a positive integer an `integer` column holds), whatever a client sent. */
export function isProductId(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= MAX_INTEGER_COLUMN;
}
