package ddi

import (
	"strconv"

	"github.com/gosling-ota/gosling/schema"
)

// appendPoll renders the root poll answer for e into dst (PROTOCOL.md):
//
//	{"config":{"polling":{"sleep":"HH:MM:SS"}},"_links":{...}}
//
// config.polling.sleep is always present; _links only when it has a link.
// At most one of deploymentBase and cancelAction is offered (SWUpdate
// checks cancelAction first); a pending action outside its maintenance
// window offers neither (window.go); the cancelAction href has no query string
// because SWUpdate appends "/feedback" to it verbatim. Every href is
// absolute: SWUpdate stalls on relative ones.
//
// It is append-style so the hot path renders into a reused buffer without
// allocating; every piece is either pre-rendered (sleep, e.ext.chash)
// or formatted by strconv.Append* (the path is escaped from the key, see
// entry.appendPath). The sleep is the entry's own: poll
// settings, jitter and window shortening are per device.
func (s *Server) appendPoll(dst []byte, e *entry, host []byte) []byte {
	dst = append(dst, `{"config":{"polling":{"sleep":"`...)
	dst = append(dst, e.sleep[:]...)
	dst = append(dst, `"}}`...)
	n := 0
	link := func(name string) {
		if n == 0 {
			dst = append(dst, `,"_links":{`...)
		} else {
			dst = append(dst, ',')
		}
		n++
		dst = append(dst, '"')
		dst = append(dst, name...)
		dst = append(dst, `":{"href":"`...)
		dst = s.appendBase(dst, host)
		dst = e.appendPath(dst)
	}
	if a := e.action(); a != nil && e.flags&flagWithheld == 0 {
		if a.Status == schema.ActionCanceling {
			link("cancelAction")
			dst = append(dst, "/cancelAction/"...)
			dst = strconv.AppendInt(dst, a.ID, 10)
		} else {
			link("deploymentBase")
			dst = append(dst, "/deploymentBase/"...)
			dst = strconv.AppendInt(dst, a.ID, 10)
			dst = append(dst, "?c="...)
			dst = append(dst, e.ext.chash...)
		}
		dst = append(dst, `"}`...)
	}
	if e.flags&flagConfigReq != 0 {
		link("configData")
		dst = append(dst, `/configData"}`...)
	}
	if e.action() == nil && e.lastActionID != 0 {
		link("installedBase")
		dst = append(dst, "/installedBase/"...)
		dst = strconv.AppendInt(dst, e.lastActionID, 10)
		dst = append(dst, `"}`...)
	}
	if n > 0 {
		dst = append(dst, '}')
	}
	return append(dst, '}')
}
