import { useEffect, useRef } from 'react';

/** The channel on which a signed-in user's tabs of one browser tell each other what their cart shows (same origin). */
const CART_CHANNEL = 'shop-cart';

/** What a tab tells the others: whose cart, and what it now shows. */
interface CartNews {
  user: string;
  /** The lines as product, quantity and price: tabs showing the same cart send the same text. */
  lines: string;
}

/** The parts of a cart line that tell two carts apart. */
interface SignedLine {
  productId: number;
  quantity: number;
  price: number;
}

/**
 * Keeps the signed-in user's other tabs of this browser showing the cart this tab shows. The cart is the account's
 * (kept in the database), but each tab holds its own copy in its state, which before read the cart again only when the
 * tab came back to the front: a tab left beside the one that changed the cart showed the old lines and total. Now each
 * tab says on a BroadcastChannel what its cart shows whenever that changes, and a tab of the same user that shows
 * something else reads the cart again (`refresh`, one event to its own worker, so it works with any number of
 * workers). Once they agree nobody sends more: a change costs each other tab one read. Other devices still read it when
 * their tab comes back to the front.
 */
export function useCartSync(user: string, lines: readonly SignedLine[] | undefined, refresh: () => void): void {
  const signature = lines ? JSON.stringify(lines.map((line) => [line.productId, line.quantity, line.price])) : undefined;
  const channel = useRef<BroadcastChannel | undefined>(undefined);
  const latest = useRef({ signature, refresh });
  latest.current = { signature, refresh };
  useEffect(() => {
    if (!user || typeof BroadcastChannel === 'undefined') return;
    const opened = new BroadcastChannel(CART_CHANNEL);
    channel.current = opened;
    opened.onmessage = (message: MessageEvent<Partial<CartNews> | null>) => {
      const news = message.data;
      // Another user's tab (signed in before a logout here), or the cart this tab already shows: nothing to read.
      if (news?.user !== user || typeof news.lines !== 'string' || news.lines === latest.current.signature) return;
      latest.current.refresh();
    };
    return () => {
      opened.close();
      channel.current = undefined;
    };
  }, [user]);
  useEffect(() => {
    if (user && signature !== undefined) channel.current?.postMessage({ user, lines: signature } satisfies CartNews);
  }, [user, signature]);
}
