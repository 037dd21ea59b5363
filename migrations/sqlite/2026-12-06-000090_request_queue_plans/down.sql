DROP TABLE portal_requests_fts;
CREATE VIRTUAL TABLE portal_requests_fts USING fts5(
    search_text, place, state, content = '', contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3 4 5 6 7 8', detail = column
);
INSERT INTO portal_requests_fts (rowid, search_text, place, state)
    SELECT seq, search_text, 'l' || replace(location_id, '-', ''),
        CASE WHEN archived THEN 'archived' ELSE 'open' END
    FROM portal_requests;
INSERT INTO portal_requests_fts (portal_requests_fts) VALUES ('optimize');
