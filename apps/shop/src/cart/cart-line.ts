/** A line of the cart as the UI state holds it (plain data, JSON-safe). */
export interface CartLine {
  productId: number;
  name: string;
  /** The product's price (cents) as the catalogue had it at the cart's latest event: what the total counts. */
  price: number;
  quantity: number;
  /** The price when the shopper last added this product: when it differs from {@link price}, the page says so. */
  addedPrice: number;
}
