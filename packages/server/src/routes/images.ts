/** Routes of the `images` tag. */
import type { ImagesHandlers } from '@vmkeep/api';
import type { ServerDeps } from '../deps.js';
import { notImplemented } from './not-implemented.js';

export function imagesRoutes(_deps: ServerDeps): ImagesHandlers {
  return {
    listImages: notImplemented('listImages'),
    createImage: notImplemented('createImage'),
    getImage: notImplemented('getImage'),
    deleteImage: notImplemented('deleteImage'),
  };
}
