/** Routes of the `images` tag: register, list, read and delete boot images. */
import type { ImagesHandlers } from '@vmkeep/api';
import type { ServerDeps } from '../deps.js';

export function imagesRoutes(deps: ServerDeps): ImagesHandlers {
  const images = deps.services.images;
  return {
    listImages: () => ({ status: 200, body: images.list().map((image) => images.view(image)) }),

    createImage: async ({ body }) => ({
      status: 201,
      body: images.view(await images.create(body)),
    }),

    getImage: ({ path }) => ({ status: 200, body: images.view(images.get(path.name)) }),

    deleteImage: async ({ path }) => {
      await images.delete(path.name);
      return { status: 204 };
    },
  };
}
