-- Kept: the row may hold the clinic's settings, and the first read recreated it before this
-- migration anyway.
SELECT 1;
