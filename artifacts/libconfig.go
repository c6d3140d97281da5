package artifacts

import (
	"fmt"
	"strconv"
	"strings"
)

// maxNesting bounds group/list/array nesting so that a hostile
// sw-description cannot exhaust the stack of the recursive parser.
const maxNesting = 64

// parseLibconfig parses the libconfig syntax SWUpdate's default parser
// reads (hyperrealm libconfig 1.5–1.7): settings "name = value;" or
// "name : value," with groups {}, lists (), arrays [], strings with C
// escapes and adjacent-literal concatenation, integers (decimal, hex,
// optional L/LL), floats, booleans, and #, // and /* */ comments.
// @include is rejected: SWUpdate forbids it and we have no files to read.
func parseLibconfig(src []byte) (*setting, error) {
	p := &lcParser{src: src, line: 1}
	root, err := p.parseSettings(0)
	if err != nil {
		return nil, err
	}
	return root, nil
}

type lcParser struct {
	src   []byte
	pos   int
	line  int
	depth int
}

func (p *lcParser) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: line %d: %s", ErrBadDescription, p.line, fmt.Sprintf(format, args...))
}

func (p *lcParser) eof() bool { return p.pos >= len(p.src) }

func (p *lcParser) peek() byte {
	if p.eof() {
		return 0
	}
	return p.src[p.pos]
}

// skipSpace skips white space and comments, counting lines for errors.
func (p *lcParser) skipSpace() error {
	for !p.eof() {
		c := p.src[p.pos]
		switch {
		case c == '\n':
			p.line++
			p.pos++
		case c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v':
			p.pos++
		case c == '#' || (c == '/' && p.pos+1 < len(p.src) && p.src[p.pos+1] == '/'):
			for !p.eof() && p.src[p.pos] != '\n' {
				p.pos++
			}
		case c == '/' && p.pos+1 < len(p.src) && p.src[p.pos+1] == '*':
			start := p.line
			p.pos += 2
			for {
				if p.eof() {
					p.line = start
					return p.errorf("unterminated /* comment")
				}
				if p.src[p.pos] == '*' && p.pos+1 < len(p.src) && p.src[p.pos+1] == '/' {
					p.pos += 2
					break
				}
				if p.src[p.pos] == '\n' {
					p.line++
				}
				p.pos++
			}
		case c == '@':
			return p.errorf("@include and other directives are not allowed in sw-description")
		default:
			return nil
		}
	}
	return nil
}

// parseSettings parses "name = value;" settings until end (0 for EOF).
func (p *lcParser) parseSettings(end byte) (*setting, error) {
	g := &setting{kind: kindGroup}
	for {
		if err := p.skipSpace(); err != nil {
			return nil, err
		}
		if p.eof() {
			if end != 0 {
				return nil, p.errorf("unexpected end of file, missing %q", end)
			}
			return g, nil
		}
		if end != 0 && p.peek() == end {
			p.pos++
			return g, nil
		}
		name, err := p.parseName()
		if err != nil {
			return nil, err
		}
		if err := p.skipSpace(); err != nil {
			return nil, err
		}
		if c := p.peek(); c != '=' && c != ':' {
			return nil, p.errorf("expected '=' or ':' after %q, found %s", name, p.describe())
		}
		p.pos++
		if err := p.skipSpace(); err != nil {
			return nil, err
		}
		v, err := p.parseValue()
		if err != nil {
			return nil, err
		}
		if !g.add(name, v) {
			return nil, p.errorf("duplicate setting %q", name)
		}
		if err := p.skipSpace(); err != nil {
			return nil, err
		}
		if c := p.peek(); c == ';' || c == ',' {
			p.pos++
		}
	}
}

// parseName reads a libconfig name: [A-Za-z*][-A-Za-z0-9_*]*.
func (p *lcParser) parseName() (string, error) {
	start := p.pos
	if c := p.peek(); !(isLetter(c) || c == '*') {
		return "", p.errorf("expected a setting name, found %s", p.describe())
	}
	p.pos++
	for !p.eof() {
		c := p.src[p.pos]
		if !(isLetter(c) || isDigit(c) || c == '-' || c == '_' || c == '*') {
			break
		}
		p.pos++
	}
	return string(p.src[start:p.pos]), nil
}

func (p *lcParser) parseValue() (*setting, error) {
	switch c := p.peek(); c {
	case '{', '(', '[':
		p.depth++
		defer func() { p.depth-- }()
		if p.depth > maxNesting {
			return nil, p.errorf("nesting deeper than %d", maxNesting)
		}
		p.pos++
		switch c {
		case '{':
			return p.parseSettings('}')
		case '(':
			return p.parseElements(kindList, ')')
		default:
			return p.parseElements(kindArray, ']')
		}
	case '"':
		return p.parseString()
	default:
		return p.parseScalar()
	}
}

// parseElements parses the comma-separated values of a list or array.
// Arrays hold scalars of one type, as in libconfig.
func (p *lcParser) parseElements(kind settingKind, end byte) (*setting, error) {
	s := &setting{kind: kind}
	for {
		if err := p.skipSpace(); err != nil {
			return nil, err
		}
		if p.eof() {
			return nil, p.errorf("unexpected end of file, missing %q", end)
		}
		if p.peek() == end {
			p.pos++
			return s, nil
		}
		if len(s.children) > 0 {
			if p.peek() != ',' {
				return nil, p.errorf("expected ',' or %q, found %s", end, p.describe())
			}
			p.pos++
			if err := p.skipSpace(); err != nil {
				return nil, err
			}
			// Tolerate a trailing comma; newer libconfig does too.
			if p.peek() == end {
				p.pos++
				return s, nil
			}
		}
		v, err := p.parseValue()
		if err != nil {
			return nil, err
		}
		if kind == kindArray {
			if v.kind == kindGroup || v.kind == kindList || v.kind == kindArray {
				return nil, p.errorf("arrays may only hold scalar values, use a list ( ) instead")
			}
			if len(s.children) > 0 && !sameScalarKind(s.children[0].kind, v.kind) {
				return nil, p.errorf("array elements must all have the same type")
			}
		}
		s.children = append(s.children, v)
	}
}

// sameScalarKind treats ints and floats as different, like libconfig.
func sameScalarKind(a, b settingKind) bool { return a == b }

// parseString reads one or more adjacent string literals and concatenates
// them, as libconfig does ("a" "b" == "ab").
func (p *lcParser) parseString() (*setting, error) {
	var b strings.Builder
	for {
		if err := p.readString(&b); err != nil {
			return nil, err
		}
		save, saveLine := p.pos, p.line
		if err := p.skipSpace(); err != nil {
			return nil, err
		}
		if p.peek() != '"' {
			p.pos, p.line = save, saveLine
			return &setting{kind: kindString, text: b.String()}, nil
		}
	}
}

func (p *lcParser) readString(b *strings.Builder) error {
	startLine := p.line
	p.pos++ // opening quote
	for {
		if p.eof() {
			p.line = startLine
			return p.errorf("unterminated string")
		}
		c := p.src[p.pos]
		p.pos++
		switch c {
		case '"':
			return nil
		case '\n':
			p.line++
			b.WriteByte(c)
		case '\\':
			if p.eof() {
				p.line = startLine
				return p.errorf("unterminated string")
			}
			e := p.src[p.pos]
			p.pos++
			switch e {
			case '\\', '"':
				b.WriteByte(e)
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'f':
				b.WriteByte('\f')
			case 'x':
				if p.pos+2 > len(p.src) {
					return p.errorf("truncated \\x escape")
				}
				v, err := strconv.ParseUint(string(p.src[p.pos:p.pos+2]), 16, 8)
				if err != nil {
					return p.errorf("invalid \\x escape %q", p.src[p.pos:p.pos+2])
				}
				b.WriteByte(byte(v))
				p.pos += 2
			default:
				return p.errorf("invalid escape \\%c in string", e)
			}
		default:
			b.WriteByte(c)
		}
	}
}

// parseScalar reads a bool, integer or float literal.
func (p *lcParser) parseScalar() (*setting, error) {
	start := p.pos
	for !p.eof() {
		c := p.src[p.pos]
		if !(isLetter(c) || isDigit(c) || c == '+' || c == '-' || c == '.') {
			break
		}
		p.pos++
	}
	lit := string(p.src[start:p.pos])
	if lit == "" {
		return nil, p.errorf("expected a value, found %s", p.describe())
	}
	switch {
	case strings.EqualFold(lit, "true"), strings.EqualFold(lit, "false"):
		return &setting{kind: kindBool, text: strings.ToLower(lit)}, nil
	case isIntLiteral(lit):
		return &setting{kind: kindInt, text: lit}, nil
	case isFloatLiteral(lit):
		return &setting{kind: kindFloat, text: lit}, nil
	}
	return nil, p.errorf("invalid value %q (strings need double quotes)", lit)
}

// isIntLiteral accepts [+-]digits or 0x hex digits, with an optional L or
// LL suffix (libconfig's 64-bit marker).
func isIntLiteral(lit string) bool {
	lit = strings.TrimSuffix(strings.TrimSuffix(lit, "L"), "L")
	if len(lit) > 2 && (lit[:2] == "0x" || lit[:2] == "0X") {
		_, err := strconv.ParseUint(lit[2:], 16, 64)
		return err == nil
	}
	_, err := strconv.ParseInt(lit, 10, 64)
	return err == nil
}

// isFloatLiteral accepts decimal floats; strconv alone would also take
// "inf", "nan", hex floats and underscores, which libconfig does not.
func isFloatLiteral(lit string) bool {
	digits := false
	for i := 0; i < len(lit); i++ {
		c := lit[i]
		switch {
		case isDigit(c):
			digits = true
		case c == '.', c == '+', c == '-', c == 'e', c == 'E':
		default:
			return false
		}
	}
	if !digits {
		return false
	}
	_, err := strconv.ParseFloat(lit, 64)
	return err == nil
}

// describe names the next token for error messages.
func (p *lcParser) describe() string {
	if p.eof() {
		return "end of file"
	}
	return strconv.QuoteRune(rune(p.src[p.pos]))
}

func isLetter(c byte) bool { return 'a' <= c|0x20 && c|0x20 <= 'z' }
func isDigit(c byte) bool  { return '0' <= c && c <= '9' }
