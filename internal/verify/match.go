package verify

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
)

// The streaming matcher: the ID hashes of every recipient in a hash table,
// and the extract files read once, in parallel slices, each line probed by
// the first 8 bytes of its hash and confirmed on the full 32.

type personRef struct {
	hash   [32]byte
	hh     int32 // index of the household
	member int16
	next   int32 // next ref with the same 8-byte key, or -1
}

type recipientIndex struct {
	keys map[uint64]int32
	refs []personRef
}

func newRecipientIndex(n int) *recipientIndex {
	return &recipientIndex{keys: make(map[uint64]int32, n), refs: make([]personRef, 0, n)}
}

func (ix *recipientIndex) add(hexHash string, hh int32, member int16) error {
	var r personRef
	if len(hexHash) != 64 {
		return fmt.Errorf("verify: bad id hash %q", hexHash)
	}
	if _, err := hex.Decode(r.hash[:], []byte(hexHash)); err != nil {
		return fmt.Errorf("verify: bad id hash: %w", err)
	}
	r.hh, r.member = hh, member
	key := keyOf(r.hash[:8])
	r.next = -1
	if first, ok := ix.keys[key]; ok {
		r.next = first
	}
	ix.keys[key] = int32(len(ix.refs))
	ix.refs = append(ix.refs, r)
	return nil
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

// probe returns the ref matching a line's full hash, or -1.
func (ix *recipientIndex) probe(line []byte) int32 {
	k, ok := hexKey(line)
	if !ok {
		return -1
	}
	i, ok := ix.keys[k]
	if !ok {
		return -1
	}
	var full [32]byte
	if _, err := hex.Decode(full[:], line[:64]); err != nil {
		return -1
	}
	for ; i >= 0; i = ix.refs[i].next {
		if ix.refs[i].hash == full {
			return i
		}
	}
	return -1
}

// hit is a matched extract line.
type hit struct {
	ref     int32
	extract int16
	item    Item
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
		for {
			line, err := r.ReadSlice('\n')
			if len(line) > 0 {
				if len(line) < 66 {
					return fmt.Errorf("verify: %s: short line", sl.path)
				}
				lines++
				if ref := ix.probe(line); ref >= 0 {
					it, perr := parseLine(bytes.TrimSuffix(line, []byte{'\n'}))
					if perr != nil {
						return perr
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

// countLines reads the files the same way and only counts their lines: what
// reading the extracts costs at least, the yardstick of the matcher.
func countLines(ctx context.Context, paths []string) (int64, error) {
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
