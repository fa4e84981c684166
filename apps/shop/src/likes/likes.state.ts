import { BridgeTier, EventHandler, State } from '@reflex-bridge/nest';

/** A per-visitor like counter: UI-only state on the `none` tier (also what the scale-out test hammers). */
@State()
@BridgeTier('none')
export class LikesState {
  count = 0;

  @EventHandler()
  like(): void {
    this.count++;
  }
}
