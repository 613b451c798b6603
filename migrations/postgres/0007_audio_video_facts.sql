-- Audio and video facts for seed 004's API: duration in seconds, and the video track's size.
-- Kept apart from width/height, which the primary API shows, filters and orders for images only.
ALTER TABLE media_files ADD COLUMN duration double precision;
ALTER TABLE media_files ADD COLUMN video_width bigint;
ALTER TABLE media_files ADD COLUMN video_height bigint;
