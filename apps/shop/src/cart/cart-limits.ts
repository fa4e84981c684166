/** Different products one cart holds: a shop's cart, not a copy of the catalogue (each cart event re-reads its prices). */
export const MAX_CART_LINES = 100;
/** The most of one product a cart line holds. */
export const MAX_LINE_QUANTITY = 99;
