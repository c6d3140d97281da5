package bench

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
)

// writeSWU writes an unsigned .swu (cpio newc, magic 070701) of version
// with one "dummy" image of size pseudo-random bytes (seeded, so equal
// arguments give equal files), streaming: the payload is generated twice,
// once for its sha256 in sw-description and once into the file, and never
// held in memory.
func writeSWU(path, version string, size int64, seed uint64) error {
	sum := sha256.New()
	if _, err := io.Copy(sum, payload(size, seed)); err != nil {
		return err
	}
	desc := fmt.Sprintf(`software =
{
	version = "%s";
	description = "gosling bench image";
	hardware-compatibility = [ "1.0" ];
	images: (
		{
			filename = "payload.bin";
			type = "dummy";
			sha256 = "%s";
		}
	);
}
`, version, hex.EncodeToString(sum.Sum(nil)))
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	var off int64
	member := func(ino uint32, name string, size int64, data io.Reader) error {
		n, _ := fmt.Fprintf(w, "070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
			ino, 0o100644, 0, 0, 1, 1767225600, size, 0, 0, 0, 0, len(name)+1, 0)
		k, _ := w.WriteString(name + "\x00")
		off += int64(n + k)
		pad(w, &off)
		if data != nil {
			m, err := io.Copy(w, data)
			if err != nil {
				return err
			}
			off += m
		}
		pad(w, &off)
		return nil
	}
	if err := member(1, "sw-description", int64(len(desc)), strings.NewReader(desc)); err != nil {
		return err
	}
	if err := member(2, "payload.bin", size, payload(size, seed)); err != nil {
		return err
	}
	if err := member(0, "TRAILER!!!", 0, nil); err != nil {
		return err
	}
	for off%512 != 0 {
		w.WriteByte(0)
		off++
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}

func pad(w *bufio.Writer, off *int64) {
	for *off%4 != 0 {
		w.WriteByte(0)
		*off++
	}
}

// payload returns size bytes from a ChaCha8 stream seeded by seed.
func payload(size int64, seed uint64) io.Reader {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	return io.LimitReader(rand.NewChaCha8(key), size)
}
