DROP TABLE staff_notifications;
DROP TABLE notification_rules;
