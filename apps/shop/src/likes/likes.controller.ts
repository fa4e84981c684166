import { Controller, HttpCode, Param, Post } from '@nestjs/common';
import { ReflexStateService } from '@reflex-bridge/nest';
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
    await this.states.modify(token, LikesState, (likes) => {
      likes.count++;
    });
  }
}
