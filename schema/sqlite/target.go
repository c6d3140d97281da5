package sqlite

import (
	"database/sql/driver"
	"fmt"
	"slices"
	"strings"

	"modernc.org/sqlite"

	"github.com/gosling-ota/gosling/schema"
)

// queryMatchFunc is a SQL function that evaluates Target.Query exactly as
// schema.Target.Matches does (strings.ToLower on both sides, then a
// substring test). SQLite's own lower() folds ASCII only, so "Ünit" would
// match "ün" in memory (polls) but not in SQL (lists, bulk changes and
// rollouts' device counts); one definition keeps them in agreement.
const queryMatchFunc = "gosling_query_match"

func init() {
	sqlite.MustRegisterDeterministicScalarFunction(queryMatchFunc, 3, func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
		q := strings.ToLower(text(args[2]))
		return strings.Contains(strings.ToLower(text(args[0])), q) ||
			strings.Contains(strings.ToLower(text(args[1])), q), nil
	})
}

// text reads a TEXT (or BLOB) argument of a SQL function; NULL is "".
func text(v driver.Value) string {
	switch v := v.(type) {
	case string:
		return v
	case []byte:
		return string(v)
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

// targetSQL turns t into conditions on the devices table (joined with AND)
// and their arguments. It must select exactly the devices t.Matches accepts;
// the contract suite compares both on a varied population.
//
// Lists travel as one JSON argument expanded with json_each, so a target
// with thousands of ids or tags needs no more than one bound parameter each.
// Attribute keys are compared as json_each keys, not through a JSON path:
// a path cannot express every key (SQLite's "$.\"k\"" syntax ends at the
// first '"', and '.' or '[' outside quotes split the path).
func targetSQL(t *schema.Target) ([]string, []any, error) {
	var (
		where []string
		args  []any
	)
	if len(t.IDs) > 0 {
		ids, err := marshalJSON(t.IDs)
		if err != nil {
			return nil, nil, err
		}
		where, args = append(where, "devices.id IN (SELECT value FROM json_each(?))"), append(args, ids)
	}
	if len(t.Tags) > 0 {
		// Stored tags are unique, so the device carries every wanted tag
		// iff it carries as many of them as there are (unique) wanted tags.
		want := slices.Compact(slices.Sorted(slices.Values(t.Tags)))
		tags, err := marshalJSON(want)
		if err != nil {
			return nil, nil, err
		}
		where = append(where, `(SELECT count(*) FROM json_each(devices.tags)
			WHERE value IN (SELECT value FROM json_each(?))) = ?`)
		args = append(args, tags, len(want))
	}
	switch t.Feed {
	case "":
	case schema.DefaultFeed: // the store writes DefaultFeed for "", but a row may predate that
		where = append(where, "devices.feed IN ('default', '')")
	default:
		where, args = append(where, "devices.feed = ?"), append(args, t.Feed)
	}
	if t.UpdateMode != "" {
		where, args = append(where, "devices.update_mode = ?"), append(args, string(t.UpdateMode))
	}
	if t.Status != "" {
		where, args = append(where, "devices.status = ?"), append(args, t.Status)
	}
	if t.HWModel != "" {
		// Device.HWModel: hw_model unless empty or missing, else hw_boardname.
		where = append(where, `coalesce(nullif(json_extract(devices.attributes, '$.hw_model'), ''),
			json_extract(devices.attributes, '$.hw_boardname')) = ?`)
		args = append(args, t.HWModel)
	}
	if t.HWRevision != "" {
		where, args = append(where, "json_extract(devices.attributes, '$.hw_revision') = ?"), append(args, t.HWRevision)
	}
	if t.SWVersion != "" {
		where, args = append(where, "devices.sw_version = ?"), append(args, t.SWVersion)
	}
	if len(t.Attributes) > 0 {
		// Keys are unique on both sides, so every wanted pair is present iff
		// the number of matching pairs equals the number of wanted pairs.
		attrs, err := marshalJSON(t.Attributes)
		if err != nil {
			return nil, nil, err
		}
		where = append(where, `(SELECT count(*) FROM json_each(devices.attributes) AS a
			JOIN json_each(?) AS w ON a.key = w.key AND a.value = w.value) = ?`)
		args = append(args, attrs, len(t.Attributes))
	}
	if t.Query != "" {
		where = append(where, queryMatchFunc+"(devices.id, devices.name, ?)")
		args = append(args, t.Query)
	}
	return where, args, nil
}

// whereClause joins conditions into " WHERE …", or "" for none.
func whereClause(conds []string) string {
	if len(conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(conds, " AND ")
}
