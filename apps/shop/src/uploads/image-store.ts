import { mkdir, readdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Inject, Injectable, PayloadTooLargeException, UnsupportedMediaTypeException, BadRequestException } from '@nestjs/common';
import type { UploadFile } from '@reflex-bridge/nest';
import { imageKindOfFile } from './image-kind.js';

/** DI token of the directory uploaded files are kept in (the bridge's `uploads.directory`). */
export const UPLOAD_DIRECTORY = Symbol('UploadDirectory');

/** Largest image the shop keeps (avatars and product pictures), in bytes. */
export const MAX_IMAGE_BYTES = 2 * 1024 * 1024;

/**
 * Keeps uploaded images under the upload directory, where `GET /_upload/<path>` serves them. A file is kept only
 * when its first bytes say PNG, JPEG, GIF or WebP and it is within {@link MAX_IMAGE_BYTES}.
 */
@Injectable()
export class ImageStore {
  /** The last `keep` of each folder under way: the next one in that folder waits for it. Emptied as they end. */
  private readonly busy = new Map<string, Promise<unknown>>();

  constructor(@Inject(UPLOAD_DIRECTORY) private readonly directory: string) {}

  /**
   * Moves the single image of `files` to `<name>.<ext>` under `folder` (names chosen by the shop, never from the
   * upload) and returns its URL. Throws 400/413/415 without keeping anything otherwise.
   */
  async keep(files: UploadFile[], folder: string, name: string, options: KeepOptions = {}): Promise<string> {
    if (files.length !== 1) throw new BadRequestException('Send exactly one image.');
    const file = files[0];
    if (file.size > MAX_IMAGE_BYTES) throw new PayloadTooLargeException(`Images are limited to ${MAX_IMAGE_BYTES} bytes.`);
    const kind = await imageKindOfFile(file.path);
    if (!kind) throw new UnsupportedMediaTypeException('Only PNG, JPEG, GIF and WebP images are accepted.');
    const relative = `${folder}/${name}.${kind}`;
    const destination = join(this.directory, folder, `${name}.${kind}`);
    // One image at a time per folder, from its move to the removal of the others (and what the caller records):
    // two overlapping uploads each removed the other's image, leaving none. Per process: two workers can still overlap.
    return this.oneAtATime(folder, async () => {
      await mkdir(dirname(destination), { recursive: true });
      await file.moveTo(destination);
      if (options.replaces !== undefined) await this.removeOthers(dirname(destination), options.replaces, `${name}.${kind}`);
      const url = `/_upload/${relative}`;
      await options.recorded?.(url);
      return url;
    });
  }

  /** Runs `work` once the folder's earlier work has ended (whether it succeeded or not). */
  private oneAtATime<T>(folder: string, work: () => Promise<T>): Promise<T> {
    const before = this.busy.get(folder) ?? Promise.resolve();
    const mine = before.then(work, work);
    const settled = mine.catch(() => undefined);
    this.busy.set(folder, settled);
    void settled.then(() => {
      if (this.busy.get(folder) === settled) this.busy.delete(folder);
    });
    return mine;
  }

  /**
   * The URL of the image kept in `folder` (the one of a folder whose images replace each other), `''` when it holds
   * none; a folder name is the shop's, never a client's.
   */
  async current(folder: string): Promise<string> {
    const names = await readdir(join(this.directory, folder)).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return [];
      throw error;
    });
    const image = names.filter((name) => /\.(png|jpg|gif|webp)$/.test(name)).sort()[0];
    return image ? `/_upload/${folder}/${image}` : '';
  }

  /** Removes the files of `directory` whose names start with `prefix`, except `kept`. */
  private async removeOthers(directory: string, prefix: string, kept: string): Promise<void> {
    const names = await readdir(directory);
    await Promise.all(names.filter((other) => other.startsWith(prefix) && other !== kept).map((other) => rm(join(directory, other), { force: true })));
  }
}

/** How {@link ImageStore.keep} keeps an image. */
export interface KeepOptions {
  /**
   * Once the new image is kept, removes the other files of its folder whose names start with this (`''`: all of
   * them): the images it replaces, which would stay served otherwise (an earlier one of another format, for one).
   */
  replaces?: string;
  /**
   * Records the kept image's URL where the app shows it (a product row), before the folder's next image is kept: so
   * the image recorded last is the one left.
   */
  recorded?: (url: string) => Promise<unknown>;
}
