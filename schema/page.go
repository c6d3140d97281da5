package schema

// Page sizes of the store's lists: the size of a page when the caller asks
// for none (limit 0), and the most one page holds.
const (
	// DefaultPageLimit and MaxPageLimit page Devices, Actions, Feedback
	// and RolloutEvents.
	DefaultPageLimit = 100
	MaxPageLimit     = 1000
	// DefaultIDPageLimit and MaxIDPageLimit page DeviceIDs, whose rows are
	// only ids (bulk operations walk whole fleets with it).
	DefaultIDPageLimit = 1000
	MaxIDPageLimit     = 10000
)

// PageLimit returns the size of a page of limit items from offset: def
// when limit is 0, else limit capped at maxLimit. Returns EINVALID for a
// negative offset or limit.
func PageLimit(offset, limit, def, maxLimit int) (int, error) {
	if offset < 0 || limit < 0 {
		return 0, Errorf(EINVALID, "offset and limit must not be negative")
	}
	if limit == 0 {
		return def, nil
	}
	return min(limit, maxLimit), nil
}
