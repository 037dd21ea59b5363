DROP TABLE portal_request_tasks;
DROP TABLE portal_request_events;
DROP TRIGGER portal_request_counts_keep ON portal_requests;
DROP FUNCTION portal_request_counts_keep();
DROP TABLE portal_request_counts;
DROP TABLE portal_requests;
