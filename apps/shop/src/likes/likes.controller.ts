import { BadRequestException, Controller, Headers, HttpCode, Post, UseGuards } from '@nestjs/common';
import { Throttle, ThrottlerGuard } from '@nestjs/throttler';
import { ReflexStateService } from '@reflex-bridge/nest';
import { LikesState } from './likes.state.js';

/**
 * Likes one client address may give per minute: each takes the visitor's state lock (with Redis, a few round trips
 * between workers), so an unbounded loop of them would cost the visitor and the store more than any page does.
 */
export const LIKES_LIMIT = { limit: 120, ttl: 60_000 } as const;

/** The request header naming the tab to give a like to (its client token). */
export const LIKES_TOKEN_HEADER = 'x-reflex-token';

/**
 * An out-of-band change: an HTTP call (`POST /likes`, the tab's token in the `X-Reflex-Token` header) adds a like to a
 * visitor's state. It takes the same lock as the visitor's events and the delta reaches their page on whichever
 * worker their socket is. The token is a bearer secret for an anonymous tab's state, so it travels in a header and
 * never in the URL, which access logs, browser histories and `Referer` headers keep.
 */
@Controller('likes')
@UseGuards(ThrottlerGuard)
export class LikesController {
  constructor(private readonly states: ReflexStateService) {}

  @Post()
  @HttpCode(204)
  @Throttle({ default: LIKES_LIMIT })
  async gift(@Headers(LIKES_TOKEN_HEADER) token: string | undefined): Promise<void> {
    if (!token) throw new BadRequestException('Send the tab\'s client token in the X-Reflex-Token header.');
    // A token nobody holds (malformed, never connected, expired) gets no state created for it: modify throws
    // UnknownClientTokenError, a NotFoundException, and Nest answers 404.
    await this.states.modify(token, LikesState, (likes) => {
      likes.count++;
    });
  }
}
