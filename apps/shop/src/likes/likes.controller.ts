import { Controller, HttpCode, NotFoundException, Param, Post } from '@nestjs/common';
import { ReflexStateService, UnknownClientTokenError } from '@reflex-bridge/nest';
import { LikesState } from './likes.state.js';

/**
 * An out-of-band change: an HTTP call adds a like to a visitor's state. It takes the same lock as the
 * visitor's events and the delta reaches their page on whichever worker their socket is.
 */
@Controller('likes')
export class LikesController {
  constructor(private readonly states: ReflexStateService) {}

  @Post(':token')
  @HttpCode(204)
  async gift(@Param('token') token: string): Promise<void> {
    try {
      await this.states.modify(token, LikesState, (likes) => {
        likes.count++;
      });
    } catch (error) {
      // A token nobody holds (malformed, never connected, expired) gets no state created for it.
      if (error instanceof UnknownClientTokenError) throw new NotFoundException(error.message);
      throw error;
    }
  }
}
