import { useEffect, useRef } from 'react';

/**
 * A function that calls `run` with the latest arguments once calls to it have paused for `delayMs`: typing a word in
 * a search box makes one call, not one per key. `flush()` makes the waiting call now (Enter in the box), and a call
 * still waiting when the component goes away is dropped with it.
 */
export function useDebounced<Args extends unknown[]>(run: (...args: Args) => void, delayMs: number): ((...args: Args) => void) & { flush(): void } {
  const latest = useRef(run);
  latest.current = run;
  const debounced = useRef<((...args: Args) => void) & { flush(): void }>(undefined);
  const pending = useRef<{ timer: ReturnType<typeof setTimeout>; args: Args }>(undefined);
  debounced.current ??= Object.assign(
    (...args: Args) => {
      if (pending.current) clearTimeout(pending.current.timer);
      pending.current = { args, timer: setTimeout(() => debounced.current!.flush(), delayMs) };
    },
    {
      flush: () => {
        const waiting = pending.current;
        if (!waiting) return;
        clearTimeout(waiting.timer);
        pending.current = undefined;
        latest.current(...waiting.args);
      },
    },
  );
  useEffect(
    () => () => {
      if (pending.current) clearTimeout(pending.current.timer);
      pending.current = undefined;
    },
    [],
  );
  return debounced.current;
}
