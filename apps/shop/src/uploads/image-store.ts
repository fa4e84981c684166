import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
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
  constructor(@Inject(UPLOAD_DIRECTORY) private readonly directory: string) {}

  /**
   * Moves the single image of `files` to `<name>.<stamp>.<ext>` under `folder` (names chosen by the shop, never from
   * the upload; the stamp orders uploads by time) and returns the URL of the folder's newest image, which is this
   * one unless a newer upload overlapped. Throws 400/413/415 without keeping anything otherwise.
   */
  async keep(files: UploadFile[], folder: string, name: string, options: KeepOptions = {}): Promise<string> {
    if (files.length !== 1) throw new BadRequestException('Send exactly one image.');
    const file = files[0];
    if (file.size > MAX_IMAGE_BYTES) throw new PayloadTooLargeException(`Images are limited to ${MAX_IMAGE_BYTES} bytes.`);
    const kind = await imageKindOfFile(file.path);
    if (!kind) throw new UnsupportedMediaTypeException('Only PNG, JPEG, GIF and WebP images are accepted.');
    const mine = `${name}.${newStamp()}.${kind}`;
    const directory = join(this.directory, folder);
    await mkdir(directory, { recursive: true });
    await file.moveTo(join(directory, mine));
    if (options.replaces === undefined) {
      const url = `/_upload/${folder}/${mine}`;
      await options.recorded?.(url);
      return url;
    }
    // Newest wins, with no lock (several workers share the folder, each with its own memory): each upload records the
    // newest image it sees, again until what it recorded is still the newest after the write, and removes only
    // images older than that one. An image is removed only once a newer one exists, whose upload writes after it
    // appeared: so the last write names an image nobody removes. Before, each upload removed the others' files after
    // moving its own, and two workers' overlapping uploads removed each other's: 0 images left, the row naming one.
    // Each further round needs an upload to the same names that appeared meanwhile, so the loop ends with them.
    let recorded = '';
    for (;;) {
      const newest = await this.newest(directory, options.replaces);
      if (newest === recorded || newest === undefined) break;
      recorded = newest;
      await options.recorded?.(`/_upload/${folder}/${recorded}`);
    }
    const keptStamp = stampOf(recorded);
    const names = await readdir(directory);
    const older = names.filter((other) => other.startsWith(options.replaces!) && isImageName(other) && stampOf(other) < keptStamp);
    await Promise.all(older.map((other) => rm(join(directory, other), { force: true })));
    return `/_upload/${folder}/${recorded}`;
  }

  /**
   * The URL of the image kept in `folder` (the newest of a folder whose images replace each other), `''` when it
   * holds none; a folder name is the shop's, never a client's.
   */
  async current(folder: string): Promise<string> {
    const image = await this.newest(join(this.directory, folder), '').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
    return image ? `/_upload/${folder}/${image}` : '';
  }

  /** The name of the newest image of `directory` whose name starts with `prefix` (by stamp; unstamped ones oldest). */
  private async newest(directory: string, prefix: string): Promise<string | undefined> {
    const names = (await readdir(directory)).filter((name) => name.startsWith(prefix) && isImageName(name));
    return names.sort((a, b) => (stampOf(a) === stampOf(b) ? (a < b ? -1 : 1) : stampOf(a) < stampOf(b) ? -1 : 1)).at(-1);
  }
}

/** A stamp that sorts as text in upload order: milliseconds (9 base-36 digits, until the year 5188), then 32 random bits. */
function newStamp(): string {
  return Date.now().toString(36).padStart(9, '0') + randomBytes(4).toString('hex');
}

/** The stamp of an image file name (`<name>.<stamp>.<ext>`); `''` for names kept before stamps, which sort first. */
function stampOf(fileName: string): string {
  const parts = fileName.split('.');
  const stamp = parts.length >= 3 ? parts[parts.length - 2] : '';
  return /^[0-9a-z]{9}[0-9a-f]{8}$/.test(stamp) ? stamp : '';
}

function isImageName(fileName: string): boolean {
  return /\.(png|jpg|gif|webp)$/.test(fileName);
}

/** How {@link ImageStore.keep} keeps an image. */
export interface KeepOptions {
  /**
   * Once the new image is kept, removes the other files of its folder whose names start with this (`''`: all of
   * them): the images it replaces, which would stay served otherwise (an earlier one of another format, for one).
   */
  replaces?: string;
  /**
   * Records an image's URL where the app shows it (a product row): called with the newest image of the folder, perhaps
   * more than once when uploads overlap, and before any older image is removed. A plain write is enough: the last
   * one names the image left.
   */
  recorded?: (url: string) => Promise<unknown>;
}
