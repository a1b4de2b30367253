package media

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
)

// nullSink discards audio.
type nullSink struct {
	closed atomic.Bool
}

// WriteFrame implements Sink.
func (s *nullSink) WriteFrame([]int16) error {
	if s.closed.Load() {
		return ErrClosed
	}
	return nil
}

// Close implements Sink.
func (s *nullSink) Close() error {
	s.closed.Store(true)
	return nil
}

// fileSink records to a 48 kHz mono 16-bit WAV file. Until Close patches in
// the real sizes, the header claims the largest possible data chunk, so a
// recording cut short by a crash still reads as far as it got.
type fileSink struct {
	path string

	mu sync.Mutex
	// mu guards the following fields.
	file      *os.File // nil once closed
	w         *bufio.Writer
	dataBytes uint32
	scratch   []byte // little-endian bytes of one frame, reused
}

func newFileSink(path string) (*fileSink, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, flattenPathError(err)
	}
	w := bufio.NewWriterSize(f, 64<<10)
	if _, err := w.Write(appendWAVHeader(nil, SampleRate, maxWAVData)); err != nil {
		f.Close()
		return nil, fmt.Errorf("write header: %w", err)
	}
	return &fileSink{path: path, file: f, w: w}, nil
}

// WriteFrame implements Sink.
func (s *fileSink) WriteFrame(pcm []int16) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.file == nil {
		return ErrClosed
	}
	if uint64(s.dataBytes)+2*uint64(len(pcm)) > maxWAVData {
		return fmt.Errorf("media: %s: recording exceeds the 4 GiB WAV limit", s.path)
	}
	s.scratch = s.scratch[:0]
	for _, v := range pcm {
		s.scratch = binary.LittleEndian.AppendUint16(s.scratch, uint16(v))
	}
	if _, err := s.w.Write(s.scratch); err != nil {
		return fmt.Errorf("media: write %s: %w", s.path, err)
	}
	s.dataBytes += uint32(len(s.scratch))
	return nil
}

// Close implements Sink: it flushes the recording and writes the final sizes
// into the WAV header.
func (s *fileSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.file == nil {
		return nil
	}
	f := s.file
	s.file = nil
	err := s.w.Flush()
	if err == nil {
		_, err = f.WriteAt(appendWAVHeader(nil, SampleRate, s.dataBytes), 0)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("media: finish %s: %w", s.path, err)
	}
	return nil
}
