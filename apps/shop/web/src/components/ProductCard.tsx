import { useReflexEvent } from '@reflex-bridge/react';
import { CartState, type FilterStateVars } from '../generated/reflex-states.js';
import { money } from '../money.js';
import { Link } from '../router.js';
import { ProductImageUpload } from './ProductImageUpload.js';

export type Product = FilterStateVars['products'][number];

/** One product of the list: picture, name (a link to its page), price, add to cart; staff may attach a picture. */
export function ProductCard({ product, staff }: { product: Product; staff: boolean }) {
  const add = useReflexEvent(CartState.add);
  return (
    <li data-product-id={product.id} data-category={product.category} className="product">
      {product.image ? <img className="product-image" src={product.image} alt={product.name} /> : null}
      <div className="name">
        <Link to={`/product/${product.id}`}>{product.name}</Link>
      </div>
      <div className="price">{money(product.price)}</div>
      <button type="button" className="primary" onClick={() => add({ productId: product.id })}>
        Add to cart
      </button>
      {staff && <ProductImageUpload productId={product.id} />}
    </li>
  );
}
