-- Feedback rows are written only by RecordFeedback, which holds every
-- action of its batch locked (FOR UPDATE) while it inserts their rows, so
-- the foreign key's per-row check (an SPI query and a KEY SHARE lock per
-- feedback) guarded nothing and cost about a third of the insert. What the
-- key also gave, deleting an action's feedback with it, is kept by a
-- statement trigger: one DELETE per statement that deleted actions
-- (device deletes cascade to actions, and so to here).
ALTER TABLE feedback DROP CONSTRAINT feedback_action_id_fkey;

CREATE FUNCTION feedback_delete_with_actions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	DELETE FROM feedback f USING deleted_actions d WHERE f.action_id = d.id;
	RETURN NULL;
END
$$;

CREATE TRIGGER actions_delete_feedback AFTER DELETE ON actions
	REFERENCING OLD TABLE AS deleted_actions
	FOR EACH STATEMENT EXECUTE FUNCTION feedback_delete_with_actions();
