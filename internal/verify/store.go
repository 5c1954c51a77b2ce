package verify

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The extract store keeps each imported extract as one text file sorted by
// ID hash, one item a line:
//
//	hash \t kind \t amount_fen \t date \t sealed details
//
// Sorted files let a household lookup seek (a sparse index of every
// indexEvery-th line) and let a batch stream them sequentially. Files are
// written under a temporary name and renamed, so a file in the store is
// always whole; the database says which file of a source is in force.
type store struct {
	dir string

	mu      sync.Mutex
	indexes map[string]*sparseIndex
}

const indexEvery = 128

type storedLine struct {
	hash   string
	kind   string
	amount int64
	date   string
	detail string
}

// Item is one stored department item about one person.
type Item struct {
	Hash      string            `json:"-"`
	Kind      string            `json:"kind"`
	AmountFen int64             `json:"amount_fen"`
	Date      string            `json:"date"`
	Detail    map[string]string `json:"detail,omitempty"`
	sealed    string
}

func newStore(dir string) *store {
	return &store{dir: dir, indexes: map[string]*sparseIndex{}}
}

func (st *store) path(name string) string { return filepath.Join(st.dir, name) }

// write hashes and seals the records and writes them sorted; it returns the
// file's path and the number of distinct persons.
func (st *store) write(ctx context.Context, src *Source, in ImportInput, digest string, recs []record, keys interface {
	Hash(string) string
	Seal(string) string
}) (string, int, error) {
	if err := os.MkdirAll(st.dir, 0o700); err != nil {
		return "", 0, err
	}
	lines := sealRecords(recs, keys)
	if err := ctx.Err(); err != nil {
		return "", 0, err
	}
	slices.SortFunc(lines, func(a, b storedLine) int {
		if c := strings.Compare(a.hash, b.hash); c != 0 {
			return c
		}
		if c := strings.Compare(a.kind, b.kind); c != 0 {
			return c
		}
		return strings.Compare(a.date, b.date)
	})
	name := src.Name
	if in.Provider != "" {
		name += "-" + in.Provider
	}
	name = fmt.Sprintf("%s-%s-%s.tsv", name, in.DataDate, digest[:12])
	final := st.path(name)
	tmp, err := os.CreateTemp(st.dir, ".import-*")
	if err != nil {
		return "", 0, err
	}
	defer os.Remove(tmp.Name())
	w := bufio.NewWriterSize(tmp, 1<<20)
	persons := 0
	var buf []byte
	for i, l := range lines {
		if i == 0 || l.hash != lines[i-1].hash {
			persons++
		}
		buf = append(buf[:0], l.hash...)
		buf = append(buf, '\t')
		buf = append(buf, l.kind...)
		buf = append(buf, '\t')
		buf = strconv.AppendInt(buf, l.amount, 10)
		buf = append(buf, '\t')
		buf = append(buf, l.date...)
		buf = append(buf, '\t')
		buf = append(buf, l.detail...)
		buf = append(buf, '\n')
		w.Write(buf)
	}
	if err := errors.Join(w.Flush(), tmp.Sync(), tmp.Close()); err != nil {
		return "", 0, err
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return "", 0, err
	}
	return final, persons, nil
}

// parseLine splits a stored line (without its newline).
func parseLine(line []byte) (Item, error) {
	f := bytes.SplitN(line, []byte{'\t'}, 5)
	if len(f) != 5 || len(f[0]) != 64 {
		return Item{}, fmt.Errorf("verify: bad stored line %.20q", line)
	}
	amount, err := strconv.ParseInt(string(f[2]), 10, 64)
	if err != nil {
		return Item{}, fmt.Errorf("verify: bad stored amount: %w", err)
	}
	return Item{Hash: string(f[0]), Kind: string(f[1]), AmountFen: amount, Date: string(f[3]), sealed: string(f[4])}, nil
}

// sparseIndex is the hash and offset of every indexEvery-th line of a file.
type sparseIndex struct {
	hashes  []string
	offsets []int64
	size    int64
}

func (st *store) index(name string) (*sparseIndex, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if ix, ok := st.indexes[name]; ok {
		return ix, nil
	}
	f, err := os.Open(st.path(name))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ix := &sparseIndex{}
	r := bufio.NewReaderSize(f, 1<<20)
	var off int64
	for n := 0; ; n++ {
		line, err := r.ReadSlice('\n')
		if len(line) > 0 && err == nil && n%indexEvery == 0 {
			ix.hashes = append(ix.hashes, string(line[:64]))
			ix.offsets = append(ix.offsets, off)
		}
		off += int64(len(line))
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	ix.size = off
	st.indexes[name] = ix
	return ix, nil
}

// lookup returns the items of a file for the given hashes.
func (st *store) lookup(name string, hashes []string) (map[string][]Item, error) {
	ix, err := st.index(name)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(st.path(name))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string][]Item{}
	for _, h := range hashes {
		// the last indexed line before h: the block that may hold its first line
		i, _ := slices.BinarySearch(ix.hashes, h)
		if i > 0 {
			i--
		}
		if len(ix.offsets) == 0 {
			continue
		}
		r := bufio.NewReaderSize(io.NewSectionReader(f, ix.offsets[i], ix.size-ix.offsets[i]), 16<<10)
		for {
			line, err := r.ReadSlice('\n')
			if len(line) < 65 {
				break
			}
			c := strings.Compare(string(line[:64]), h)
			if c > 0 {
				break
			}
			if c == 0 {
				it, perr := parseLine(line[:len(line)-1])
				if perr != nil {
					return nil, perr
				}
				out[h] = append(out[h], it)
			}
			if err != nil {
				break
			}
		}
	}
	return out, nil
}

// extractRef is an extract in force, as the database records it.
type extractRef struct {
	ID       int64
	Source   string
	Provider string
	DataDate string
	Stored   string
	Rows     int64
	Imported time.Time
}

// Label is the source's Chinese name with its provider.
func (e extractRef) Label() string {
	src, _ := SourceByName(e.Source)
	label := e.Source
	if src != nil {
		label = src.Label
	}
	if e.Provider != "" {
		label += "（" + e.Provider + "）"
	}
	return label
}
