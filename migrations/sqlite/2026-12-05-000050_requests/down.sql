DROP TABLE portal_request_tasks;
DROP TABLE portal_request_events;
DROP TRIGGER portal_requests_fts_update;
DROP TRIGGER portal_requests_fts_delete;
DROP TRIGGER portal_requests_fts_insert;
DROP TABLE portal_requests_fts;
DROP TABLE portal_requests;
