import { NotFoundException, UseGuards } from '@nestjs/common';
import type { Request } from 'express';
import { BridgeError, EventHandler, EventRequest, EventUploads, Payload, State, type UploadFile } from '@reflex-bridge/nest';
import type { SessionUser } from '../auth/user.entity.js';
import { LoggedInGuard } from '../auth/logged-in.guard.js';
import { ImageStore } from '../uploads/image-store.js';
import { ProductService } from './product.service.js';
import { StaffGuard } from './staff.guard.js';
import { isProductId } from './product-id.js';

/**
 * What staff do from the shop page: attach a product picture (buffered upload). Runs on the `full` tier for
 * logged-in users (a logged-out upload is refused before its body is read) and for staff only (the HTTP staff routes'
 * check: {@link StaffGuard}). It publishes nothing itself: saving the product is a live change, and every open catalogue updates.
 */
@State()
@UseGuards(LoggedInGuard)
export class StaffState {
  /** The id of the last product given a picture from this tab (0: none yet). */
  lastImagedProduct = 0;

  constructor(
    private readonly catalogue: ProductService,
    private readonly images: ImageStore,
  ) {}

  @EventHandler()
  @UseGuards(StaffGuard)
  async attachImage(@EventUploads() files: UploadFile[], @Payload('productId') productId: number, @EventRequest() request: Request | undefined): Promise<void> {
    // The guards above do not run where events run on tier none (PROFILE=reflex_only): there, no request and no user,
    // and without this check any visitor replaced any product's picture on every open page. A BridgeError, as an
    // HttpException is mapped to its status on the full tier only (elsewhere it is a handler_error).
    if (!(request?.user as SessionUser | undefined)?.staff) throw new BridgeError('forbidden', 'Staff only.', undefined, 403);
    if (!isProductId(productId) || !(await this.catalogue.find(productId))) throw new NotFoundException(`No product ${productId}`);
    // It replaces the product's earlier picture, which stayed served for good when it had another format.
    // The row is saved before another picture of the product is kept, so the row names the picture left.
    await this.images.keep(files, 'products', `product-${productId}`, {
      replaces: `product-${productId}.`,
      recorded: (url) => this.catalogue.setImage(productId, url),
    });
    this.lastImagedProduct = productId;
  }
}
