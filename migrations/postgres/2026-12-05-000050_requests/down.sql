DROP TABLE portal_request_tasks;
DROP TABLE portal_request_events;
DROP TABLE portal_requests;
