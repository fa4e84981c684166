import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UploadFile } from '@reflex-bridge/nest';
import { ImageStore } from './image-store.js';

/** The first bytes of each kind: what `keep` checks. */
const IMAGES = { png: Buffer.from('89504e470d0a1a0a0000000d', 'hex'), gif: Buffer.from('GIF89a', 'latin1') };

describe('ImageStore', () => {
  let root: string;
  let incoming: string;
  let files = 0;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'shop-images-'));
    incoming = await mkdtemp(join(tmpdir(), 'shop-incoming-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
    await rm(incoming, { recursive: true, force: true });
  });

  /** An uploaded file of `kind`, as the bridge hands it to a handler (a temp file on disk). */
  const upload = async (kind: keyof typeof IMAGES): Promise<UploadFile> => {
    const path = join(incoming, `upload-${++files}`);
    await writeFile(path, IMAGES[kind]);
    return new UploadFile(`picture.${kind}`, IMAGES[kind].length, `image/${kind}`, path);
  };

  it('keeps one image in a folder whose images replace each other, however many uploads overlap', async () => {
    // Two tabs of one user uploading an avatar at once (or two staff a product's picture in two formats): each
    // upload removed the folder's other files after moving its own, so each removed the other's, and no image was
    // left, while the state (or the product row) pointed to one of them: a broken image for good.
    const store = new ImageStore(root);
    for (let round = 0; round < 20; round++) {
      const folder = `avatars/user-${round}`;
      const kept = await Promise.all(['a', 'b', 'c'].map(async (name, i) => store.keep([await upload(i % 2 ? 'gif' : 'png')], folder, name, { replaces: '' })));
      expect(kept).toHaveLength(3);
      expect(await readdir(join(root, folder))).toHaveLength(1);
      expect(kept).toContain(await store.current(folder));

      const products = `products-${round}`;
      const recorded: string[] = [];
      const record = async (url: string) => void recorded.push(url);
      await Promise.all(['png', 'gif'].map(async (kind) => store.keep([await upload(kind as keyof typeof IMAGES)], products, 'product-1', { replaces: 'product-1.', recorded: record })));
      // The picture left is the one the product row was given last.
      expect(await readdir(join(root, products))).toEqual([recorded.at(-1)!.split('/').at(-1)]);
    }
  });
});

describe('ImageStore on two workers (two instances, one folder)', () => {
  let root: string;
  let incoming: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'shop-images-workers-'));
    incoming = await mkdtemp(join(tmpdir(), 'shop-incoming-workers-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
    await rm(incoming, { recursive: true, force: true });
  });

  let files = 0;
  const upload = async (kind: keyof typeof IMAGES): Promise<UploadFile> => {
    const path = join(incoming, `upload-${++files}`);
    await writeFile(path, IMAGES[kind]);
    return new UploadFile(`picture.${kind}`, IMAGES[kind].length, `image/${kind}`, path);
  };

  it('leaves the image the product row names when two workers replace it at once', async () => {
    // Each worker's ImageStore queued a folder's uploads in its own memory only: worker A moved its picture, removed
    // the others and was recording its URL while worker B moved its own and removed A's; A's write landed last, so
    // the row named a file that was gone (and B's own was removed by nobody: the folder held B's, the row A's).
    const [a, b] = [new ImageStore(root), new ImageStore(root)];
    let row = '';
    let bDone!: () => void;
    const bFinished = new Promise<void>((resolve) => (bDone = resolve));
    let aRecording!: () => void;
    const aIsRecording = new Promise<void>((resolve) => (aRecording = resolve));
    let first = true;
    const aKeeps = a.keep([await upload('png')], 'products', 'product-1', {
      replaces: 'product-1.',
      recorded: async (url) => {
        if (first) {
          first = false;
          aRecording();
          await bFinished; // A's write lands after B's upload has ended
        }
        row = url;
      },
    });
    await aIsRecording;
    await b.keep([await upload('gif')], 'products', 'product-1', { replaces: 'product-1.', recorded: async (url) => void (row = url) });
    bDone();
    await aKeeps;
    const left = await readdir(join(root, 'products'));
    expect(left).toEqual([row.split('/').at(-1)]);
  });
});
