package postgres

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/gosling-ota/gosling/schema"
)

// where collects the conditions and arguments of a statement built at run
// time. Conditions refer to their arguments as $1, $2, … in the order added.
type where struct {
	conds []string
	args  []any
	// unicodeLower makes Target.Query fold case with ICU's root locale
	// rather than the columns' "C" collation (see DB.unicodeLower).
	unicodeLower bool
}

// arg adds an argument and returns its placeholder.
func (w *where) arg(v any) string {
	w.args = append(w.args, v)
	return "$" + strconv.Itoa(len(w.args))
}

func (w *where) add(cond string) { w.conds = append(w.conds, cond) }

// sql returns " WHERE c1 AND c2 …", or "" without conditions.
func (w *where) sql() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// target adds the conditions of t on the devices table; every non-zero
// field of t must match, as schema.Target.Matches says:
//   - IDs: id = ANY, any of them;
//   - Tags: tags @> (carries all of them), answered by the devices_tags GIN
//     index;
//   - Feed, UpdateMode, Status, SWVersion: equality on the column; Feed
//     "default" also matches a stored "" (the store writes "default" for
//     "", but a row may predate that), as in schema/sqlite;
//   - HWModel: hw_model, else hw_boardname (schema.Device.HWModel);
//   - HWRevision: hw_revision;
//   - Attributes: attributes @> {k: v, …}, which for string values is
//     "each key is present with exactly that value";
//   - Query: case-insensitive substring of id or name; strpos on lower()
//     rather than LIKE, so there are no wildcards to escape. Under the
//     columns' "C" collation lower() folds ASCII only, while Matches uses
//     strings.ToLower; so where the server has ICU, lower() runs under
//     "und-x-icu", which folds every letter. ICU maps a few letters by
//     context (a final Σ becomes ς, İ becomes i̇), where Go maps each rune
//     alone; only queries with such letters can disagree.
func (w *where) target(t *schema.Target) error {
	if t == nil {
		return nil
	}
	if len(t.IDs) > 0 {
		w.add("id = ANY(" + w.arg(t.IDs) + "::text[])")
	}
	if len(t.Tags) > 0 {
		w.add("tags @> " + w.arg(t.Tags) + "::text[]")
	}
	switch t.Feed {
	case "":
	case schema.DefaultFeed:
		w.add("feed IN ('default', '')")
	default:
		w.add("feed = " + w.arg(t.Feed))
	}
	if t.UpdateMode != "" {
		w.add("update_mode = " + w.arg(string(t.UpdateMode)))
	}
	if t.Status != "" {
		w.add("status = " + w.arg(t.Status))
	}
	if t.HWModel != "" {
		w.add("coalesce(nullif(attributes->>'" + schema.AttrHWModel + "', ''), attributes->>'" +
			schema.AttrHWBoardName + "') = " + w.arg(t.HWModel))
	}
	if t.HWRevision != "" {
		w.add("attributes->>'" + schema.AttrHWRevision + "' = " + w.arg(t.HWRevision))
	}
	if t.SWVersion != "" {
		w.add("sw_version = " + w.arg(t.SWVersion))
	}
	if len(t.Attributes) > 0 {
		b, err := json.Marshal(t.Attributes)
		if err != nil {
			return err
		}
		w.add("attributes @> " + w.arg(string(b)) + "::jsonb")
	}
	if t.Query != "" {
		q, collate := w.arg(t.Query), ""
		if w.unicodeLower {
			collate = ` COLLATE "und-x-icu"`
		}
		lower := func(x string) string { return "lower(" + x + collate + ")" }
		w.add("(strpos(" + lower("id") + ", " + lower(q) + ") > 0 OR strpos(" + lower("name") + ", " + lower(q) + ") > 0)")
	}
	return nil
}
