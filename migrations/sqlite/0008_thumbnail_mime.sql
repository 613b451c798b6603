-- Thumbnails are JPEG for opaque images and PNG otherwise: each is served with its own type.
ALTER TABLE media_thumbnails ADD COLUMN mime text NOT NULL DEFAULT 'image/jpeg';
