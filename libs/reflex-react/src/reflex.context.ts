import { createContext, useContext } from 'react';
import type { ReflexClient } from '@reflex-bridge/client';
import type { ReflexBinding } from './reflex.binding.js';

/** The binding of the nearest {@link ReflexProvider}. */
export const ReflexContext = createContext<ReflexBinding | null>(null);

/** The nearest provider's binding; throws a clear error outside a provider. */
export function useReflexBinding(): ReflexBinding {
  const binding = useContext(ReflexContext);
  if (!binding) throw new Error('Reflex hooks need a <ReflexProvider> above the component.');
  return binding;
}

/** The {@link ReflexClient} of the nearest {@link ReflexProvider}, for what the hooks do not cover. */
export function useReflexClient(): ReflexClient {
  return useReflexBinding().client;
}
