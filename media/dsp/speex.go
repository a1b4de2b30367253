package dsp

// #cgo pkg-config: speexdsp
// #include <speex/speex_echo.h>
import "C"

import (
	"errors"
	"unsafe"
)

// echoTail is the echo path the linear filter models: a bulk delay of up
// to 120 ms plus a room's reverberant tail.
const echoTail = 250 * SampleRate / 1000

// linearEcho is libspeexdsp's MDF adaptive filter (multidelay
// block-frequency domain): it subtracts its estimate of the echo and keeps
// adapting through double talk, so the near end passes untouched.
type linearEcho struct {
	st  *C.SpeexEchoState
	out []int16
}

func newLinearEcho() (*linearEcho, error) {
	st := C.speex_echo_state_init(ChunkSamples, echoTail)
	if st == nil {
		return nil, errors.New("dsp: speexdsp echo canceller refused 48 kHz")
	}
	rate := C.int(SampleRate)
	C.speex_echo_ctl(st, C.SPEEX_ECHO_SET_SAMPLING_RATE, unsafe.Pointer(&rate))
	return &linearEcho{st: st, out: make([]int16, ChunkSamples)}, nil
}

// cancel removes the echo of far from near, in place; both are one chunk.
func (l *linearEcho) cancel(far, near []int16) {
	C.speex_echo_cancellation(l.st,
		(*C.spx_int16_t)(unsafe.Pointer(&near[0])),
		(*C.spx_int16_t)(unsafe.Pointer(&far[0])),
		(*C.spx_int16_t)(unsafe.Pointer(&l.out[0])))
	copy(near, l.out)
}

func (l *linearEcho) reset() { C.speex_echo_state_reset(l.st) }

func (l *linearEcho) close() { C.speex_echo_state_destroy(l.st) }
