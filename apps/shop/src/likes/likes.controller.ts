import { Controller, HttpCode, Param, Post, UseGuards } from '@nestjs/common';
import { Throttle, ThrottlerGuard } from '@nestjs/throttler';
import { ReflexStateService } from '@reflex-bridge/nest';
import { LikesState } from './likes.state.js';

/**
 * Likes one client address may give per minute: each takes the visitor's state lock (with Redis, a few round trips
 * between workers), so an unbounded loop of them would cost the visitor and the store more than any page does.
 */
export const LIKES_LIMIT = { limit: 120, ttl: 60_000 } as const;

/**
 * An out-of-band change: an HTTP call adds a like to a visitor's state. It takes the same lock as the
 * visitor's events and the delta reaches their page on whichever worker their socket is.
 */
@Controller('likes')
@UseGuards(ThrottlerGuard)
export class LikesController {
  constructor(private readonly states: ReflexStateService) {}

  @Post(':token')
  @HttpCode(204)
  @Throttle({ default: LIKES_LIMIT })
  async gift(@Param('token') token: string): Promise<void> {
    // A token nobody holds (malformed, never connected, expired) gets no state created for it: modify throws
    // UnknownClientTokenError, a NotFoundException, and Nest answers 404.
    await this.states.modify(token, LikesState, (likes) => {
      likes.count++;
    });
  }
}
