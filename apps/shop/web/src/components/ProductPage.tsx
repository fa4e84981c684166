import { useReflexEvent, useReflexVar } from '@reflex-bridge/react';
import { CartState, FilterState } from '../generated/reflex-states.js';
import { money } from '../money.js';
import { Link } from '../router.js';

/** `/product/:id`: one product, from the live catalogue (FilterState loads it on this page too). */
export function ProductPage({ id }: { id: number }) {
  const products = useReflexVar(FilterState, 'products');
  // Which product the list was read for: until it is this one, the page is loading (not "no such product").
  const loadedFor = useReflexVar(FilterState, 'productPage');
  const add = useReflexEvent(CartState.add);
  const product = products?.find((candidate) => candidate.id === id);
  return (
    <section className="panel product-page" data-testid="product-page">
      <nav className="crumbs">
        <Link to="/">← Catalogue</Link>
      </nav>
      {products === undefined || (loadedFor !== id && !product) ? (
        <p className="muted">Loading…</p>
      ) : product ? (
        <article data-product-id={product.id}>
          {product.image ? <img className="hero" src={product.image} alt={product.name} /> : <div className="hero placeholder" aria-hidden="true">◆</div>}
          <div className="details">
            <p className="category">{product.category}</p>
            <h2 data-testid="product-name">{product.name}</h2>
            <p className="price big">{money(product.price)}</p>
            <button type="button" className="primary" onClick={() => add({ productId: product.id })}>
              Add to cart
            </button>
          </div>
        </article>
      ) : (
        <p data-testid="product-missing">There is no product {id}.</p>
      )}
    </section>
  );
}
