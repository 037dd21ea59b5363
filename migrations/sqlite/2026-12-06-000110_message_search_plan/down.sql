-- Nothing on SQLite: PostgreSQL's migration of this name adds a function for its plan (see
-- there); SQLite's search statement is prepared once per connection already. Kept so that both
-- backends list the same migrations.
SELECT 1;
