-- The printable handout for patients (seed 003): the clinic's own title and text for the sheet
-- that tells patients what the portal offers and how to get access. One row at most (id 1).
-- No row: the sheet shows Portal's default text (portal-core `handout`), so a clinic that never
-- edited it, or restored the default, gets the default's improvements with upgrades.
-- Mirrored in ../../sqlite with the same names and columns.
CREATE TABLE portal_handout (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    title TEXT NOT NULL,
    -- Plain text; paragraphs separated by blank lines.
    body TEXT NOT NULL,
    updated_by TEXT,
    updated_by_name TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
