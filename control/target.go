package control

import (
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/gosling-ota/gosling/schema"
)

// tagRE is the shape of a device tag: like a feed name, so it can appear in
// query strings and metrics-free dashboards without escaping.
var tagRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$`)

// maxTags bounds a device's tags.
const maxTags = 64

// validTags checks and normalises a tag list (sorted, unique).
func validTags(field string, tags []string) ([]string, error) {
	out := make([]string, 0, len(tags))
	for _, t := range tags {
		if !tagRE.MatchString(t) {
			return nil, schema.Errorf(schema.EINVALID, "%s: tag %q: want 1-64 characters of A-Z a-z 0-9 . _ : - starting with a letter or digit", field, t)
		}
		out = append(out, t)
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) > maxTags {
		return nil, schema.Errorf(schema.EINVALID, "%s: at most %d tags, got %d", field, maxTags, len(out))
	}
	return out, nil
}

// validTarget checks a device selection's values.
func validTarget(t *schema.Target) error {
	for _, id := range t.IDs {
		if id == "" {
			return schema.Errorf(schema.EINVALID, "ids: an empty device id matches nothing")
		}
	}
	for _, tag := range t.Tags {
		if !tagRE.MatchString(tag) {
			return schema.Errorf(schema.EINVALID, "tags: %q is not a valid tag", tag)
		}
	}
	if t.Feed != "" {
		if err := validFeed(t.Feed); err != nil {
			return err
		}
	}
	if t.UpdateMode != "" && !t.UpdateMode.Valid() {
		return invalidMode(t.UpdateMode)
	}
	if t.Status != "" && !slices.Contains(deviceStatuses, t.Status) {
		return schema.Errorf(schema.EINVALID, "status %q: want one of %s", t.Status, quoteList(deviceStatuses...))
	}
	for k := range t.Attributes {
		if k == "" {
			return schema.Errorf(schema.EINVALID, "attributes: an empty key matches nothing")
		}
	}
	return nil
}

// attrPrefix starts a query parameter that filters on a configData
// attribute: ?attr.KEY=VALUE.
const attrPrefix = "attr."

// targetFromQuery reads a device selection from query parameters: id and
// tag (repeatable), feed, update_mode, status, hw_model, hw_revision,
// sw_version, q, and attr.KEY=VALUE.
func targetFromQuery(q url.Values) (schema.Target, error) {
	t := schema.Target{
		IDs:        q["id"],
		Tags:       q["tag"],
		Feed:       q.Get("feed"),
		UpdateMode: schema.UpdateMode(q.Get("update_mode")),
		Status:     q.Get("status"),
		HWModel:    q.Get("hw_model"),
		HWRevision: q.Get("hw_revision"),
		SWVersion:  q.Get("sw_version"),
		Query:      q.Get("q"),
	}
	for k, vs := range q {
		key, ok := strings.CutPrefix(k, attrPrefix)
		if !ok {
			continue
		}
		if len(vs) != 1 {
			return t, schema.Errorf(schema.EINVALID, "%s: give one value, got %d", k, len(vs))
		}
		if t.Attributes == nil {
			t.Attributes = make(map[string]string)
		}
		t.Attributes[key] = vs[0]
	}
	return t, validTarget(&t)
}
