import { Module } from '@nestjs/common';
import { LikesState } from './likes.state.js';
import { LikesController } from './likes.controller.js';

@Module({ controllers: [LikesController], providers: [LikesState] })
export class LikesModule {}
