package artifacts

import (
	"bytes"
	"fmt"
	"slices"
)

const (
	rootName        = "software" // SWUpdate's CONFIG_PARSERROOT default
	hwCompatibility = "hardware-compatibility"
)

// ParseDescription parses an sw-description in either syntax SWUpdate
// accepts: libconfig (the default parser) or JSON (a document whose first
// non-blank byte is '{', which libconfig cannot start with). Links
// ({ ref = "#./path"; }) are followed as SWUpdate does. Files is empty.
//
// SWUpdate looks every entry up, in this order, at
// software.<board>.<set>.<mode>.<entry>, software.<set>.<mode>.<entry>,
// software.<board>.<entry> and software.<entry>, where <board> comes from
// the device (-H board:rev) and <set>,<mode> from -e. Gosling knows the
// board but not the selection, so:
//
//   - Version, Name and Description are taken from software.<entry>. If
//     there is no top-level version but every board or selection section
//     that has one agrees on it, that version is used; otherwise the error
//     wraps ErrNoVersion.
//   - Hardware holds one entry per board for which the image has anything
//     board specific (software.<board>.hardware-compatibility or
//     software.<board>.<set>.<mode>.hardware-compatibility), and one entry
//     with Board "" for every other board. Each entry is the union of the
//     revision lists SWUpdate would use for that board under no selection
//     and under each selection found in the file, so Compatible answers
//     "some selection of this image accepts the device". A group directly
//     under software is a board (<board>.<entry>); a group two levels down
//     is a selection <set>.<mode> shared by all boards; three levels down
//     it is <board>.<set>.<mode>.
//
// Errors wrap ErrBadDescription (with the line and the problem) or
// ErrNoVersion.
func ParseDescription(data []byte) (*Manifest, error) {
	if len(data) > MaxDescriptionSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrBadDescription, len(data), MaxDescriptionSize)
	}
	var (
		root *setting
		err  error
	)
	if trimmed := bytes.TrimLeft(data, " \t\r\n\ufeff"); len(trimmed) > 0 && trimmed[0] == '{' {
		root, err = parseJSON(bytes.TrimPrefix(data, []byte("\ufeff")))
	} else {
		root, err = parseLibconfig(data)
	}
	if err != nil {
		return nil, err
	}
	sw := root.lookup(rootName)
	if sw == nil || sw.kind != kindGroup {
		return nil, fmt.Errorf("%w: no %q group", ErrBadDescription, rootName)
	}
	m := &Manifest{}
	if m.Name, err = optionalString(root, rootName, "name"); err != nil {
		return nil, err
	}
	if m.Description, err = optionalString(root, rootName, "description"); err != nil {
		return nil, err
	}
	sections, err := sectionPaths(root)
	if err != nil {
		return nil, err
	}
	if m.Version, err = findVersion(root, sections); err != nil {
		return nil, err
	}
	m.Hardware = collectHardware(root, sections)
	return m, nil
}

// optionalString returns the string at path, "" if absent, and an error if
// present with another type (SWUpdate would read it as empty).
func optionalString(root *setting, path ...string) (string, error) {
	s := root.lookup(path...)
	if s == nil {
		return "", nil
	}
	v, ok := s.stringValue()
	if !ok {
		return "", fmt.Errorf("%w: %s must be a string", ErrBadDescription, joinPath(path))
	}
	return v, nil
}

// maxSections bounds how many board and selection sections we visit;
// links can make a small file describe a huge tree.
const maxSections = 16384

// sectionPaths lists the board and selection sections below software:
// every group at depth 1, 2 and 3 (see ParseDescription).
func sectionPaths(root *setting) ([][]string, error) {
	var out [][]string
	visited := 0
	var walk func(path []string) bool
	walk = func(path []string) bool {
		if len(path) > 4 {
			return true
		}
		if visited++; visited > maxSections {
			return false
		}
		node := root.lookup(path...)
		if node == nil || node.kind != kindGroup {
			return true
		}
		if len(path) > 1 {
			out = append(out, path)
		}
		for _, name := range node.names {
			if name == "ref" {
				continue
			}
			if !walk(append(slices.Clip(path), name)) {
				return false
			}
		}
		return true
	}
	if !walk([]string{rootName}) {
		return nil, fmt.Errorf("%w: more than %d settings below software", ErrBadDescription, maxSections)
	}
	return out, nil
}

func findVersion(root *setting, sections [][]string) (string, error) {
	v, err := optionalString(root, rootName, "version")
	if err != nil || v != "" {
		return v, err
	}
	var found string
	for _, path := range sections {
		s, err := optionalString(root, append(path, "version")...)
		if err != nil {
			return "", err
		}
		switch {
		case s == "" || s == found:
		case found == "":
			found = s
		default:
			return "", fmt.Errorf("%w: no software.version and sections disagree (%q, %q)", ErrNoVersion, found, s)
		}
	}
	if found == "" {
		return "", ErrNoVersion
	}
	return found, nil
}

// hwList is one hardware-compatibility list; nil means "absent", which
// SWUpdate treats differently from an empty list (fall back vs. reject).
type hwList []string

func revisions(root *setting, path ...string) hwList {
	s := root.lookup(append(path, hwCompatibility)...)
	if s == nil {
		return nil
	}
	out := hwList{}
	for _, e := range s.children {
		// SWUpdate skips entries that are not non-empty strings.
		if v, ok := e.stringValue(); ok && v != "" {
			out = append(out, v)
		}
	}
	return out
}

// collectHardware implements the union rule documented on
// ParseDescription.
func collectHardware(root *setting, sections [][]string) []Hardware {
	rootList := revisions(root, rootName)
	boardLists := map[string]hwList{}       // software.<board>
	selLists := map[[2]string]hwList{}      // software.<set>.<mode>
	boardSelLists := map[[3]string]hwList{} // software.<board>.<set>.<mode>
	var boards []string                     // boards with anything specific, in file order
	var sels [][2]string                    // selections seen anywhere, in file order
	seenBoard, seenSel := map[string]bool{}, map[[2]string]bool{}
	addBoard := func(b string) {
		if !seenBoard[b] {
			seenBoard[b] = true
			boards = append(boards, b)
		}
	}
	addSel := func(s [2]string) {
		if !seenSel[s] {
			seenSel[s] = true
			sels = append(sels, s)
		}
	}
	for _, path := range sections {
		rev := revisions(root, path...)
		switch len(path) {
		case 2:
			if rev != nil {
				boardLists[path[1]] = rev
				addBoard(path[1])
			}
		case 3:
			addSel([2]string{path[1], path[2]})
			if rev != nil {
				selLists[[2]string{path[1], path[2]}] = rev
			}
		case 4:
			addSel([2]string{path[2], path[3]})
			if rev != nil {
				boardSelLists[[3]string{path[1], path[2], path[3]}] = rev
				addBoard(path[1])
			}
		}
	}

	// union collects what SWUpdate would use for one board: its base list
	// without selection, and for each selection the first list found.
	union := func(board string) (hwList, bool) {
		base, ok := boardLists[board]
		if board == "" || !ok {
			base = rootList
		}
		out, found := hwList{}, base != nil
		seen := map[string]bool{}
		add := func(l hwList) {
			for _, r := range l {
				if !seen[r] {
					seen[r] = true
					out = append(out, r)
				}
			}
		}
		add(base)
		for _, sel := range sels {
			l, ok := boardSelLists[[3]string{board, sel[0], sel[1]}]
			if board == "" || !ok {
				if l, ok = selLists[sel]; !ok {
					l = base
				}
			}
			if l != nil {
				found = true
			}
			add(l)
		}
		return out, found
	}

	var hw []Hardware
	if l, ok := union(""); ok {
		hw = append(hw, Hardware{Board: "", Revisions: l})
	}
	for _, b := range boards {
		if l, ok := union(b); ok {
			hw = append(hw, Hardware{Board: b, Revisions: l})
		}
	}
	return hw
}

func joinPath(path []string) string {
	var b bytes.Buffer
	for i, p := range path {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(p)
	}
	return b.String()
}
