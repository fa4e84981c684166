import { NotFoundException, UseGuards } from '@nestjs/common';
import { EventHandler, EventUploads, Payload, State, type UploadFile } from '@reflex-bridge/nest';
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
  async attachImage(@EventUploads() files: UploadFile[], @Payload('productId') productId: number): Promise<void> {
    if (!isProductId(productId) || !(await this.catalogue.find(productId))) throw new NotFoundException(`No product ${productId}`);
    const url = await this.images.keep(files, 'products', `product-${productId}`);
    await this.catalogue.setImage(productId, url);
    this.lastImagedProduct = productId;
  }
}
