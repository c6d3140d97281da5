package artifacts_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gosling-ota/gosling/artifacts"
)

// TestCompatibleAgainstSWUpdate uses the real client as the oracle for
// Manifest.Compatible: a device accepts an image if swupdate -c accepts
// it without a selection or with any of the selections the file defines
// (the union documented on ParseDescription). Each swupdate run takes
// about a second; a missing swupdate or openssl is a failure (.ci/run
// installs them).
func TestCompatibleAgainstSWUpdate(t *testing.T) {
	swupdate, err1 := exec.LookPath("swupdate")
	openssl, err2 := exec.LookPath("openssl")
	if err1 != nil || err2 != nil {
		t.Fatal("swupdate and openssl are needed: apt-get install swupdate openssl")
	}
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if out, err := exec.Command(openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
		"-out", cert, "-days", "2", "-subj", "/CN=gosling-test").CombinedOutput(); err != nil {
		t.Fatalf("openssl req: %v\n%s", err, out)
	}
	payload := []byte("hello\n")
	sum := sha256.Sum256(payload)
	img := fmt.Sprintf(`images: ( { filename = "payload"; type = "dummy"; sha256 = "%s"; } );`, hex.EncodeToString(sum[:]))

	tests := []struct {
		name    string
		desc    string
		devices []string // board:rev
		sels    []string // set,mode
	}{
		{
			name: "root and board regex",
			desc: `software = { version = "1.0"; hardware-compatibility = ["1.0"]; ` + img +
				` myboard = { hardware-compatibility = ["#RE:^2\\.[0-9]$"]; ` + img + ` }; };`,
			devices: []string{"other:1.0", "other:2.0", "myboard:2.5", "myboard:1.0", "myboard:22.5"},
		},
		{
			name: "selection for all boards",
			desc: `software = { version = "1.0"; hardware-compatibility = ["1.0"]; ` + img +
				` stable = { main = { hardware-compatibility = ["3.0"]; }; }; };`,
			devices: []string{"x:1.0", "x:3.0", "x:4.0"},
			sels:    []string{"stable,main", "stable,alt"},
		},
		{
			name: "board selection over board",
			desc: `software = { version = "1.0"; ` + img + `
				b = { hardware-compatibility = ["1.0"]; stable = { main = { hardware-compatibility = ["1.1"]; }; }; };
				stable = { main = { hardware-compatibility = ["9.9"]; }; }; };`,
			devices: []string{"b:1.0", "b:1.1", "b:9.9", "c:9.9", "c:1.0"},
			sels:    []string{"stable,main"},
		},
		{
			name:    "only board sections",
			desc:    `software = { version = "1.0"; ` + img + ` a = { hardware-compatibility = ["1"]; }; };`,
			devices: []string{"a:1", "z:1"},
		},
	}
	// swupdate instances share a few abstract sockets; a handful in
	// parallel is safe (see ddi/SWUPDATE.md).
	sem := make(chan struct{}, 8)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			caseDir := t.TempDir()
			descPath := filepath.Join(caseDir, "sw-description")
			if err := os.WriteFile(descPath, []byte(tt.desc), 0o600); err != nil {
				t.Fatal(err)
			}
			sig, err := exec.Command(openssl, "cms", "-sign", "-in", descPath, "-signer", cert, "-inkey", key,
				"-outform", "DER", "-nosmimecap", "-binary").Output()
			if err != nil {
				t.Fatalf("openssl cms: %v", err)
			}
			swu := MustArchive(t, defaults(true),
				member{Name: "sw-description", Data: []byte(tt.desc)},
				member{Name: "sw-description.sig", Data: sig},
				member{Name: "payload", Data: payload})
			m, err := artifacts.Inspect(bytes.NewReader(swu))
			if err != nil {
				t.Fatal(err)
			}
			swuPath := filepath.Join(caseDir, "image.swu")
			if err := os.WriteFile(swuPath, swu, 0o600); err != nil {
				t.Fatal(err)
			}
			var devs sync.WaitGroup
			for _, dev := range tt.devices {
				devs.Add(1)
				go func() {
					defer devs.Done()
					var (
						mu       sync.Mutex
						accepted bool
						wg       sync.WaitGroup
					)
					for _, sel := range append([]string{""}, tt.sels...) {
						wg.Add(1)
						go func() {
							defer wg.Done()
							sem <- struct{}{}
							defer func() { <-sem }()
							args := []string{"-k", cert, "-H", dev, "-c", "-i", swuPath}
							if sel != "" {
								args = append(args, "-e", sel)
							}
							// swupdate binds fixed abstract unix sockets, which
							// collide with other swupdate processes (the end-to-end
							// tests run beside this package); abstract sockets are
							// per network namespace, and a check run needs no network.
							cmd := exec.Command("unshare", append([]string{"--net", swupdate}, args...)...)
							cmd.Env = append(os.Environ(), "TMPDIR="+t.TempDir())
							out, _ := cmd.CombinedOutput() // the exit code is racy; the log is not
							// swupdate may exit before its last line; endupdate's
							// "SWUpdate was successful" is the earlier sign.
							ok := bytes.Contains(out, []byte("SWUPDATE successful")) || bytes.Contains(out, []byte("SWUpdate was successful"))
							if !ok && !bytes.Contains(out, []byte("compatib")) {
								t.Errorf("%s sel %q: swupdate failed for another reason:\n%s", dev, sel, out)
							}
							mu.Lock()
							accepted = accepted || ok
							mu.Unlock()
						}()
					}
					wg.Wait()
					board, rev, _ := strings.Cut(dev, ":")
					if got := m.Compatible(board, rev); got != accepted {
						t.Errorf("Compatible(%q, %q) = %v, swupdate says %v (hardware %+v)", board, rev, got, accepted, m.Hardware)
					}
				}()
			}
			devs.Wait()
		})
	}
}
