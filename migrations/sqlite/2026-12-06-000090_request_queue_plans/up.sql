-- The archive's FTS5 index gets prefix indexes up to 12 characters (8 before). A search word
-- longer than every prefix index makes FTS5 merge the whole doclist of every term it starts
-- before the first row; the words people search requests by are often longer than 8 (medicine
-- names: "lisinopril", "atorvastatin"), and a prefix index of the word's length is read
-- newest first and stops at the page. Measured on 100,000 requests: "lisinopril" 2,750 ->
-- 3,450 archive searches a second (and 3,300 -> 3,500 for shorter words, the index merged anew).
-- (PostgreSQL's migration of the same name drops an index that misled its planner and adds the
-- archive's ordered postings; SQLite's `seq` is the rowid, and FTS5 already reads postings in
-- rowid order.)
DROP TABLE portal_requests_fts;
CREATE VIRTUAL TABLE portal_requests_fts USING fts5(
    search_text, place, state, content = '', contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3 4 5 6 7 8 9 10 11 12', detail = column
);
INSERT INTO portal_requests_fts (rowid, search_text, place, state)
    SELECT seq, search_text, 'l' || replace(location_id, '-', ''),
        CASE WHEN archived THEN 'archived' ELSE 'open' END
    FROM portal_requests;
INSERT INTO portal_requests_fts (portal_requests_fts) VALUES ('optimize');
