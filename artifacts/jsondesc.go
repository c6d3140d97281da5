package artifacts

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// parseJSON converts a JSON sw-description into the setting tree. It walks
// tokens rather than unmarshalling into map[string]any so that member order
// survives and nesting is bounded by maxNesting.
func parseJSON(src []byte) (*setting, error) {
	dec := json.NewDecoder(bytes.NewReader(src))
	dec.UseNumber()
	root, err := jsonValue(dec, 0)
	if err != nil {
		return nil, jsonError(src, dec, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, jsonError(src, dec, errors.New("data after the top-level value"))
	}
	if root.kind != kindGroup {
		return nil, fmt.Errorf("%w: line 1: top-level JSON value must be an object", ErrBadDescription)
	}
	return root, nil
}

// jsonError adds the line of the decoder's position to err.
func jsonError(src []byte, dec *json.Decoder, err error) error {
	off := min(int(dec.InputOffset()), len(src))
	var se *json.SyntaxError
	if errors.As(err, &se) {
		off = min(int(se.Offset), len(src))
	}
	line := 1 + bytes.Count(src[:off], []byte("\n"))
	return fmt.Errorf("%w: line %d: %v", ErrBadDescription, line, err)
}

func jsonValue(dec *json.Decoder, depth int) (*setting, error) {
	if depth > maxNesting {
		return nil, fmt.Errorf("nesting deeper than %d", maxNesting)
	}
	tok, err := dec.Token()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			g := &setting{kind: kindGroup}
			for dec.More() {
				keyTok, err := dec.Token()
				if err != nil {
					return nil, err
				}
				key, _ := keyTok.(string)
				v, err := jsonValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				// Later duplicates win, as in json-c which SWUpdate uses.
				if i := g.find(key); i >= 0 {
					g.children[i] = v
					continue
				}
				g.add(key, v)
			}
			_, err := dec.Token() // '}'
			return g, err
		case '[':
			l := &setting{kind: kindList}
			for dec.More() {
				v, err := jsonValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				l.children = append(l.children, v)
			}
			_, err := dec.Token() // ']'
			return l, err
		}
		return nil, fmt.Errorf("unexpected %q", t)
	case string:
		return &setting{kind: kindString, text: t}, nil
	case json.Number:
		if _, err := t.Int64(); err == nil {
			return &setting{kind: kindInt, text: t.String()}, nil
		}
		return &setting{kind: kindFloat, text: t.String()}, nil
	case bool:
		if t {
			return &setting{kind: kindBool, text: "true"}, nil
		}
		return &setting{kind: kindBool, text: "false"}, nil
	case nil:
		return &setting{kind: kindNull}, nil
	}
	return nil, fmt.Errorf("unexpected token %v", tok)
}
