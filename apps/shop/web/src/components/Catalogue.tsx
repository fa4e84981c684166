import { useEffect, useState } from 'react';
import { useReflexEvent, useReflexState, useReflexVar } from '@reflex-bridge/react';
import { AccountState, FilterState } from '../generated/reflex-states.js';
import { ProductCard } from './ProductCard.js';
import { useDebounced } from '../debounced.hook.js';

/**
 * How long the search box waits for the typing to pause before it searches: a word typed is one search (each one is
 * two queries, and an address may make 300 a minute), where a search per key let a fast typist, or a few people
 * behind one NAT, run into the limit.
 */
export const SEARCH_DEBOUNCE_MS = 250;

/** The catalogue: the text and category filter, and the live list of the products that match. */
export function Catalogue() {
  const filter = useReflexState(FilterState);
  const account = useReflexState(AccountState);
  const sendQuery = useReflexEvent(FilterState.setQuery);
  const setQuery = useDebounced((value: string) => void sendQuery({ value }), SEARCH_DEBOUNCE_MS);
  const setCategory = useReflexEvent(FilterState.setCategory);
  const setPage = useReflexEvent(FilterState.setPage);
  const serverCategory = useReflexVar(FilterState, 'category') ?? '';
  // The choice shows at once; the server's value (kept in localStorage, so a new tab opens on it) wins when it comes.
  const [category, chooseCategory] = useState(serverCategory);
  useEffect(() => chooseCategory(serverCategory), [serverCategory]);
  // Another tab chose a category (localStorage sync sets the var alone): read the list for it.
  const listedCategory = filter?.listedCategory;
  useEffect(() => {
    if (listedCategory !== undefined && filter?.productPage === 0 && listedCategory !== serverCategory) setCategory({ value: serverCategory });
  }, [serverCategory, listedCategory]);
  const staff = Boolean(account?.isAuthenticated && account.isStaff);
  const visible = filter?.visible ?? [];
  return (
    <section id="catalogue" className="panel">
      <div className="filters">
        <input
          // Mounted again once the state has come (a reload keeps the tab's state, query included), showing the
          // query the list was read for; typing then leads, the server following after each pause.
          key={filter === undefined ? 'loading' : 'ready'}
          defaultValue={filter?.query ?? ''}
          id="query"
          data-testid="query"
          type="search"
          placeholder="Filter products…"
          aria-label="Filter products"
          onInput={(event) => setQuery(event.currentTarget.value)}
          // Enter searches at once, without waiting for the pause.
          onKeyDown={(event) => event.key === 'Enter' && setQuery.flush()}
        />
        <select
          id="category"
          data-testid="category"
          aria-label="Category"
          value={category}
          onChange={(event) => {
            chooseCategory(event.currentTarget.value);
            setCategory({ value: event.currentTarget.value });
          }}
        >
          <option value="">All categories</option>
          {(filter?.categories ?? []).map((name) => (
            <option key={name} value={name}>
              {name}
            </option>
          ))}
        </select>
      </div>
      {filter === undefined ? (
        <p className="muted">Loading the catalogue…</p>
      ) : (
        <>
          <ul id="products" data-testid="products" className="products">
            {visible.map((product) => (
              <ProductCard key={product.id} product={product} staff={staff} />
            ))}
          </ul>
          {visible.length === 0 && (filter.products.length > 0 || filter.query.trim() !== '') && <p className="muted">No product matches the filter.</p>}
          {filter.pageCount > 1 && (
            <nav className="pages" aria-label="Pages">
              <button type="button" disabled={filter.page <= 1} onClick={() => setPage({ value: filter.page - 1 })}>
                ← Previous
              </button>
              <span id="page">
                Page {filter.page} of {filter.pageCount}
              </span>
              <button type="button" disabled={filter.page >= filter.pageCount} onClick={() => setPage({ value: filter.page + 1 })}>
                Next →
              </button>
            </nav>
          )}
        </>
      )}
    </section>
  );
}
