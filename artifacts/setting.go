package artifacts

import "strings"

// settingKind mirrors libconfig's value types; JSON maps onto the same
// tree (object → group, array → list) so one lookup serves both syntaxes.
type settingKind uint8

const (
	kindGroup  settingKind = iota + 1 // { name = value; ... }
	kindArray                         // [ scalar, ... ], same-typed scalars
	kindList                          // ( value, ... ), any values
	kindString                        // "..."
	kindInt                           // 42, 0x2a, 42L
	kindFloat                         // 4.2, 1e3
	kindBool                          // true, false
	kindNull                          // JSON null only; treated as absent
)

// setting is one node of a parsed sw-description. Groups keep their member
// names in order (names[i] belongs to children[i]) because SWUpdate's
// semantics never depend on order but our error messages and the order of
// Manifest.Hardware should be stable.
type setting struct {
	kind     settingKind
	text     string // string value, or the literal of a number or bool
	names    []string
	children []*setting
	// index maps names to positions once a group is large, so that a
	// hostile description with 100k members is not parsed in O(n²).
	index map[string]int
}

// indexThreshold is the group size from which member lookups use index.
const indexThreshold = 16

// find returns the position of the member called name, or -1.
func (s *setting) find(name string) int {
	if s.index != nil {
		if i, ok := s.index[name]; ok {
			return i
		}
		return -1
	}
	for i, n := range s.names {
		if n == name {
			return i
		}
	}
	return -1
}

// add appends a member to a group; it reports false, and changes nothing,
// if the name is already taken.
func (s *setting) add(name string, child *setting) bool {
	if s.find(name) >= 0 {
		return false
	}
	s.names = append(s.names, name)
	s.children = append(s.children, child)
	switch {
	case s.index != nil:
		s.index[name] = len(s.names) - 1
	case len(s.names) >= indexThreshold:
		s.index = make(map[string]int, 2*len(s.names))
		for i, n := range s.names {
			s.index[n] = i
		}
	}
	return true
}

// member returns the group member called name, or nil.
func (s *setting) member(name string) *setting {
	if s == nil || s.kind != kindGroup {
		return nil
	}
	i := s.find(name)
	if i < 0 || s.children[i].kind == kindNull {
		return nil
	}
	return s.children[i]
}

// maxLinkHops bounds how many "ref" links one lookup follows, so that a
// link cycle ends with "not found" instead of a loop; maxLookupSteps bounds
// the total work of one lookup, since links to long paths full of links
// could otherwise multiply.
const (
	maxLinkHops    = 8
	maxLookupSteps = 1024
)

// lookup walks path from the root and follows SWUpdate links on the way:
// a group whose only purpose is { ref = "#./other"; } stands for the node
// the link points to, relative to the group containing it ("." is that
// group, ".." its parent, a leading "/" starts at the root). It returns
// nil if any step is missing or the link budget is exhausted.
func (s *setting) lookup(path ...string) *setting {
	steps := maxLookupSteps
	n, _ := s.lookupHops(path, maxLinkHops, &steps)
	return n
}

func (s *setting) lookupHops(path []string, hops int, steps *int) (*setting, []string) {
	cur := s
	abs := make([]string, 0, len(path))
	for _, name := range path {
		if *steps--; *steps < 0 {
			return nil, nil
		}
		child := cur.member(name)
		if child == nil {
			return nil, nil
		}
		abs = append(abs, name)
		if ref, ok := child.link(); ok {
			if hops == 0 {
				return nil, nil
			}
			target, ok := joinLink(abs[:len(abs)-1], ref)
			if !ok {
				return nil, nil
			}
			child, abs = s.lookupHops(target, hops-1, steps)
			if child == nil {
				return nil, nil
			}
		}
		cur = child
	}
	return cur, abs
}

// link reports whether s is a link group and returns its target.
func (s *setting) link() (string, bool) {
	ref := s.member("ref")
	if ref == nil || ref.kind != kindString || !strings.HasPrefix(ref.text, "#") {
		return "", false
	}
	return ref.text[1:], true
}

// joinLink resolves a link target (without its '#') against base, the
// path of the group holding the link.
func joinLink(base []string, ref string) ([]string, bool) {
	out := append([]string(nil), base...)
	if strings.HasPrefix(ref, "/") {
		out = out[:0]
	}
	for _, part := range strings.Split(ref, "/") {
		switch part {
		case "", ".":
		case "..":
			if len(out) == 0 {
				return nil, false
			}
			out = out[:len(out)-1]
		default:
			out = append(out, part)
		}
	}
	return out, true
}

// stringValue returns the value of a string setting.
func (s *setting) stringValue() (string, bool) {
	if s == nil || s.kind != kindString {
		return "", false
	}
	return s.text, true
}
