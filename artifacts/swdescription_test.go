package artifacts_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/gosling-ota/gosling/artifacts"
)

func TestParseDescription(t *testing.T) {
	tests := []struct {
		name    string
		desc    string
		want    *artifacts.Manifest
		wantErr error
		errText string // substring of the error message
	}{
		{
			name: "libconfig full syntax",
			desc: `# comment
// another comment
/* block
   comment */
software =
{
	version = "1.0.0";
	name: "demo\t\"quoted\"\x41";
	description = "multi " /* between */ "part"
	              " string";
	number = 42; hex = 0x2A; long = 42L; float = 1.5e3; neg = -7; yes = TRUE; no = false;
	hardware-compatibility = [ "1.0", "#RE:^2\\.[0-9]$" ];
	images: (
		{ filename = "rootfs.ext4"; sha256 = "abc"; compressed = true; },
		{ filename = "kernel"; offset = "16K" }
	),
	empty = ();
	emptyarr = [];
	trailing = [ "a", ];
};
`,
			want: &artifacts.Manifest{
				Version: "1.0.0", Name: `demo	"quoted"A`, Description: "multi part string",
				Hardware: []artifacts.Hardware{{Board: "", Revisions: []string{"1.0", `#RE:^2\.[0-9]$`}}},
			},
		},
		{
			name: "json",
			desc: `{
  "software": {
    "version": "0.9.1",
    "description": "json image",
    "hardware-compatibility": ["1.0"],
    "myboard": { "hardware-compatibility": ["2.0", "2.1"], "images": [] }
  }
}`,
			want: &artifacts.Manifest{
				Version: "0.9.1", Description: "json image",
				Hardware: []artifacts.Hardware{
					{Board: "", Revisions: []string{"1.0"}},
					{Board: "myboard", Revisions: []string{"2.0", "2.1"}},
				},
			},
		},
		{
			name: "board sections",
			desc: `software = {
	version = "3.0";
	hardware-compatibility = ["1.0"];
	boardA = { hardware-compatibility = ["A1", "A2"]; images: ( { filename = "a"; } ); };
	boardB = { images: ( { filename = "b"; } ); };
};`,
			want: &artifacts.Manifest{
				Version: "3.0",
				Hardware: []artifacts.Hardware{
					{Board: "", Revisions: []string{"1.0"}},
					{Board: "boardA", Revisions: []string{"A1", "A2"}},
				},
			},
		},
		{
			// software.<set>.<mode>: applies to every board when selected.
			name: "collections without board",
			desc: `software = {
	version = "1.0";
	hardware-compatibility = ["1.0"];
	stable = {
		main = { hardware-compatibility = ["2.0"]; images: (); };
		alt = { images: (); };
	};
};`,
			want: &artifacts.Manifest{
				Version:  "1.0",
				Hardware: []artifacts.Hardware{{Board: "", Revisions: []string{"1.0", "2.0"}}},
			},
		},
		{
			// software.<board>.<set>.<mode>, with the board-level list as
			// the fallback for selections without their own.
			name: "board with collections",
			desc: `software = {
	version = "1.0";
	myboard = {
		hardware-compatibility = ["1.0"];
		stable = {
			copy-1 = { hardware-compatibility = ["1.1"]; images: (); };
			copy-2 = { images: (); };
		};
	};
	stable = {
		copy-1 = { hardware-compatibility = ["9.9"]; images: (); };
	};
};`,
			want: &artifacts.Manifest{
				Version: "1.0",
				Hardware: []artifacts.Hardware{
					{Board: "", Revisions: []string{"9.9"}},
					{Board: "myboard", Revisions: []string{"1.0", "1.1"}},
				},
			},
		},
		{
			name: "links",
			desc: `software = {
	version = { ref = "#./commonversion"; };
	commonversion = "0.7-linked";
	hardware-compatibility = ["rev10"];
	pc = { ref = "#./shared"; };
	shared = { hardware-compatibility = ["rev20"]; };
	loop = { ref = "#./loop"; };
};`,
			want: &artifacts.Manifest{
				Version: "0.7-linked",
				Hardware: []artifacts.Hardware{
					{Board: "", Revisions: []string{"rev10"}},
					{Board: "pc", Revisions: []string{"rev20"}},
					{Board: "shared", Revisions: []string{"rev20"}},
				},
			},
		},
		{
			name: "version only in board sections that agree",
			desc: `software = { a = { version = "2.0"; }; b = { version = "2.0"; }; };`,
			want: &artifacts.Manifest{Version: "2.0"},
		},
		{
			name: "empty hardware list is kept",
			desc: `software = { version = "1"; hardware-compatibility = []; };`,
			want: &artifacts.Manifest{Version: "1", Hardware: []artifacts.Hardware{{Board: "", Revisions: []string{}}}},
		},
		{name: "version disagreement", desc: `software = { a = { version = "1"; }; b = { version = "2"; }; };`, wantErr: artifacts.ErrNoVersion},
		{name: "no version", desc: `software = { description = "x"; };`, wantErr: artifacts.ErrNoVersion},
		{name: "json no version", desc: `{"software": {}}`, wantErr: artifacts.ErrNoVersion},
		{name: "no software", desc: `other = { version = "1"; };`, wantErr: artifacts.ErrBadDescription, errText: "software"},
		{name: "empty", desc: ``, wantErr: artifacts.ErrBadDescription},
		{name: "version not string", desc: `software = { version = 1.0; };`, wantErr: artifacts.ErrBadDescription, errText: "version must be a string"},
		{name: "unquoted string", desc: "software = {\n version = 1.0.0;\n};", wantErr: artifacts.ErrBadDescription, errText: "line 2"},
		{name: "missing brace", desc: "software = {\n version = \"1\";\n", wantErr: artifacts.ErrBadDescription, errText: "missing '}'"},
		{name: "unterminated string", desc: "software = {\n\n version = \"1;\n};", wantErr: artifacts.ErrBadDescription, errText: "line 3: unterminated string"},
		{name: "unterminated comment", desc: "software = { /* oops\n };", wantErr: artifacts.ErrBadDescription, errText: "line 1: unterminated"},
		{name: "include", desc: "@include \"other.cfg\"\nsoftware = { version = \"1\"; };", wantErr: artifacts.ErrBadDescription, errText: "@include"},
		{name: "duplicate", desc: "software = {\n version = \"1\";\n version = \"2\";\n};", wantErr: artifacts.ErrBadDescription, errText: "line 3: duplicate"},
		{name: "mixed array", desc: `software = { version = "1"; a = [ "x", 1 ]; };`, wantErr: artifacts.ErrBadDescription, errText: "same type"},
		{name: "group in array", desc: `software = { version = "1"; a = [ { b = 1; } ]; };`, wantErr: artifacts.ErrBadDescription, errText: "scalar"},
		{name: "missing assignment", desc: "software {\n};", wantErr: artifacts.ErrBadDescription, errText: "expected '=' or ':'"},
		{name: "bad escape", desc: `software = { version = "\q"; };`, wantErr: artifacts.ErrBadDescription, errText: "escape"},
		{name: "deep nesting", desc: "software = { version = \"1\"; x = " + strings.Repeat("(", 100) + strings.Repeat(")", 100) + "; };", wantErr: artifacts.ErrBadDescription, errText: "nesting"},
		{name: "json syntax", desc: "{\n\"software\": {\n\"version\": \"1\",,\n}}", wantErr: artifacts.ErrBadDescription, errText: "line 3"},
		{name: "json trailing data", desc: `{"software": {"version": "1"}} {}`, wantErr: artifacts.ErrBadDescription, errText: "after"},
		{name: "json deep", desc: `{"software": {"version": "1", "x": ` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}}`, wantErr: artifacts.ErrBadDescription, errText: "nesting"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := artifacts.ParseDescription([]byte(tt.desc))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.errText) {
					t.Errorf("err = %q, want it to mention %q", err, tt.errText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func TestCompatible(t *testing.T) {
	m, err := artifacts.ParseDescription([]byte(`software = {
	version = "1.0";
	hardware-compatibility = ["1.0", "#RE:^1\\.[23]$"];
	special = { hardware-compatibility = ["7"]; };
	closed = { hardware-compatibility = []; };
};`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		board, rev string
		want       bool
	}{
		{"any", "1.0", true},
		{"any", "1.2", true},
		{"any", "1.3", true},
		{"any", "1.4", false},
		{"any", "11.3", false},
		{"", "1.0", true},
		{"special", "7", true},
		{"special", "1.0", false}, // board entry replaces the default one
		{"closed", "1.0", false},
	}
	for _, tt := range tests {
		if got := m.Compatible(tt.board, tt.rev); got != tt.want {
			t.Errorf("Compatible(%q, %q) = %v, want %v", tt.board, tt.rev, got, tt.want)
		}
	}
}

func TestHardwareCompatible(t *testing.T) {
	tests := []struct {
		name       string
		hw         []artifacts.Hardware
		board, rev string
		want       bool
	}{
		{"no list accepts all", nil, "x", "1", true},
		{"only other boards", []artifacts.Hardware{{Board: "a", Revisions: []string{"1"}}}, "b", "1", false},
		{"own board", []artifacts.Hardware{{Board: "a", Revisions: []string{"1"}}}, "a", "1", true},
		{"unanchored regex", []artifacts.Hardware{{Revisions: []string{"#RE:rev"}}}, "x", "myrev2", true},
		{"invalid regex never matches", []artifacts.Hardware{{Revisions: []string{"#RE:("}}}, "x", "(", false},
		{"exact not regex", []artifacts.Hardware{{Revisions: []string{"1.0"}}}, "x", "1x0", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := artifacts.HardwareCompatible(tt.hw, tt.board, tt.rev); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
