DROP TABLE portal_handout;
