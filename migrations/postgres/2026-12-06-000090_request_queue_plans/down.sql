DROP FUNCTION portal_request_archive_search(BOOLEAN, TEXT, BIGINT, BIGINT, TEXT, TEXT, TEXT[]);
DROP TRIGGER portal_request_terms_keep ON portal_requests;
DROP FUNCTION portal_request_terms_keep();
DROP TABLE portal_request_terms;
ALTER TABLE portal_requests ADD CONSTRAINT portal_requests_seq_key UNIQUE (seq);
