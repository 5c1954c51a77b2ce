package verify

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"sync"
)

// The streaming matcher is a merge join: the extracts are stored sorted by
// ID hash, the recipients' hashes are sorted the same way, so each slice of
// a file walks the recipient list forwards once, comparing the first 8 bytes
// of each line's hash and confirming a match on all 32. No random access
// into a large table, so a line costs little more than reading it.

type personRef struct {
	key    uint64 // the first 8 bytes of the hash
	hash   [32]byte
	hh     int32 // index of the household
	member int16
}

type recipientIndex struct {
	refs []personRef // sorted by hash once finish has run
}

func newRecipientIndex(n int) *recipientIndex {
	return &recipientIndex{refs: make([]personRef, 0, n)}
}

func (ix *recipientIndex) add(hash [32]byte, hh int32, member int16) {
	ix.refs = append(ix.refs, personRef{key: keyOf(hash[:8]), hash: hash, hh: hh, member: member})
}

// finish sorts the recipients by hash for the merge.
func (ix *recipientIndex) finish() {
	slices.SortFunc(ix.refs, func(a, b personRef) int { return bytes.Compare(a.hash[:], b.hash[:]) })
}

func keyOf(b []byte) uint64 {
	return uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 |
		uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7])
}

// hexKey reads the first 16 hex digits of a line as the 8-byte key.
func hexKey(line []byte) (uint64, bool) {
	var k uint64
	for _, c := range line[:16] {
		var v byte
		switch {
		case c >= '0' && c <= '9':
			v = c - '0'
		case c >= 'a' && c <= 'f':
			v = c - 'a' + 10
		default:
			return 0, false
		}
		k = k<<4 | uint64(v)
	}
	return k, true
}

// cursor walks the sorted recipients alongside one sorted slice of a file.
type cursor struct {
	refs []personRef
	pos  int
}

// match returns the ref whose hash is the line's, or -1; lines must come in
// ascending order.
func (c *cursor) match(line []byte) (int32, error) {
	k, ok := hexKey(line)
	if !ok {
		return -1, fmt.Errorf("verify: bad hash in stored line %.20q", line)
	}
	if c.pos == 0 && len(c.refs) > 0 && c.refs[0].key < k {
		// the slice starts inside the file: find the first candidate
		c.pos, _ = slices.BinarySearchFunc(c.refs, k, func(r personRef, k uint64) int { return cmp.Compare(r.key, k) })
	}
	for c.pos < len(c.refs) && c.refs[c.pos].key < k {
		c.pos++
	}
	if c.pos == len(c.refs) || c.refs[c.pos].key != k {
		return -1, nil
	}
	var full [32]byte
	if _, err := hex.Decode(full[:], line[:64]); err != nil {
		return -1, fmt.Errorf("verify: bad hash in stored line: %w", err)
	}
	for i := c.pos; i < len(c.refs) && c.refs[i].key == k; i++ {
		if c.refs[i].hash == full {
			return int32(i), nil
		}
	}
	return -1, nil
}

// hit is a matched extract line.
type hit struct {
	ref     int32
	extract int16
	item    Item
}

// kindNames interns item kinds so a hit does not allocate its kind.
var kindNames = func() map[string]string {
	m := map[string]string{}
	for k := range KindLabels {
		m[k] = k
	}
	return m
}()

// parseHit reads the kind, amount and date of a stored line, leaving its
// hash and sealed details behind: all a batch needs of a match.
func parseHit(line []byte) (Item, error) {
	var it Item
	rest := line[65:]
	i := bytes.IndexByte(rest, '\t')
	if i < 0 {
		return it, errors.New("bad stored line")
	}
	var ok bool
	if it.Kind, ok = kindNames[string(rest[:i])]; !ok {
		it.Kind = string(rest[:i])
	}
	rest = rest[i+1:]
	i = bytes.IndexByte(rest, '\t')
	if i < 1 {
		return it, errors.New("bad stored amount")
	}
	for _, c := range rest[:i] {
		if c < '0' || c > '9' {
			return it, errors.New("bad stored amount")
		}
		it.AmountFen = it.AmountFen*10 + int64(c-'0')
	}
	rest = rest[i+1:]
	if i = bytes.IndexByte(rest, '\t'); i < 0 {
		return it, errors.New("bad stored date")
	}
	it.Date = string(rest[:i])
	return it, nil
}

// slice is a byte range of one extract file, starting at a line start.
type slice struct {
	extract  int16
	path     string
	from, to int64
}

const sliceBytes = 64 << 20

// slices cuts the files into ranges of about sliceBytes on line boundaries.
func cutSlices(paths []string) ([]slice, error) {
	var out []slice
	for i, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, err
		}
		size := fi.Size()
		from := int64(0)
		buf := make([]byte, 4096)
		for from < size {
			to := from + sliceBytes
			if to >= size {
				to = size
			} else {
				// move the cut to just after the next newline
				for {
					n, err := f.ReadAt(buf, to)
					if j := bytes.IndexByte(buf[:n], '\n'); j >= 0 {
						to += int64(j) + 1
						break
					}
					to += int64(n)
					if err != nil || to >= size {
						to = size
						break
					}
				}
			}
			out = append(out, slice{extract: int16(i), path: p, from: from, to: to})
			from = to
		}
		f.Close()
	}
	return out, nil
}

// eachSlice runs fn on every slice on all cores.
func eachSlice(ctx context.Context, slices []slice, fn func(s slice, r *bufio.Reader) error) error {
	work := make(chan slice)
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for sl := range work {
				err := func() error {
					f, err := os.Open(sl.path)
					if err != nil {
						return err
					}
					defer f.Close()
					return fn(sl, bufio.NewReaderSize(io.NewSectionReader(f, sl.from, sl.to-sl.from), 1<<20))
				}()
				if err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		})
	}
	var err error
feed:
	for _, sl := range slices {
		select {
		case work <- sl:
		case err = <-errs:
			break feed
		case <-ctx.Done():
			err = ctx.Err()
			break feed
		}
	}
	close(work)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errs:
		default:
		}
	}
	return err
}

// scanResult is what a scan of the extracts found.
type scanResult struct {
	hits    []hit
	scanned []int64 // lines per extract
	matched []int64
}

// scan streams the files and returns the lines of recipients.
func (ix *recipientIndex) scan(ctx context.Context, paths []string) (*scanResult, error) {
	sls, err := cutSlices(paths)
	if err != nil {
		return nil, err
	}
	res := &scanResult{scanned: make([]int64, len(paths)), matched: make([]int64, len(paths))}
	var mu sync.Mutex
	err = eachSlice(ctx, sls, func(sl slice, r *bufio.Reader) error {
		var hits []hit
		var lines int64
		cur := cursor{refs: ix.refs}
		for {
			line, err := r.ReadSlice('\n')
			if len(line) > 0 {
				if len(line) < 66 {
					return fmt.Errorf("verify: %s: short line", sl.path)
				}
				lines++
				ref, err := cur.match(line)
				if err != nil {
					return err
				}
				if ref >= 0 {
					it, perr := parseHit(line)
					if perr != nil {
						return fmt.Errorf("verify: %s: %w", sl.path, perr)
					}
					hits = append(hits, hit{ref: ref, extract: sl.extract, item: it})
				}
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if errors.Is(err, bufio.ErrBufferFull) {
				return fmt.Errorf("verify: %s: line longer than 1 MiB", sl.path)
			}
			if err != nil {
				return err
			}
			if lines&0xffff == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
		}
		mu.Lock()
		res.hits = append(res.hits, hits...)
		res.scanned[sl.extract] += lines
		res.matched[sl.extract] += int64(len(hits))
		mu.Unlock()
		return nil
	})
	return res, err
}

// CountLines reads the files the same way and only counts their lines: what
// reading the extracts costs at least, the yardstick of the matcher.
func CountLines(ctx context.Context, paths []string) (int64, error) {
	sls, err := cutSlices(paths)
	if err != nil {
		return 0, err
	}
	var total int64
	var mu sync.Mutex
	err = eachSlice(ctx, sls, func(sl slice, r *bufio.Reader) error {
		var n int64
		buf := make([]byte, 1<<20)
		for {
			k, err := r.Read(buf)
			n += int64(bytes.Count(buf[:k], []byte{'\n'}))
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return err
			}
		}
		mu.Lock()
		total += n
		mu.Unlock()
		return nil
	})
	return total, err
}
