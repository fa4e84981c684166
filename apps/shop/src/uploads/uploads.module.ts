import { type DynamicModule, Module } from '@nestjs/common';
import { ImageStore, UPLOAD_DIRECTORY } from './image-store.js';

/** The shop's image store over the upload directory; global, as the account and the catalogue both keep images. */
@Module({})
export class UploadsModule {
  static forRoot(directory: string): DynamicModule {
    return {
      module: UploadsModule,
      global: true,
      providers: [{ provide: UPLOAD_DIRECTORY, useValue: directory }, ImageStore],
      exports: [ImageStore],
    };
  }
}
