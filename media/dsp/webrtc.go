package dsp

// #cgo pkg-config: webrtc-audio-processing
// #cgo CXXFLAGS: -std=c++11
// #cgo LDFLAGS: -lstdc++
// #include "apm.h"
import "C"

import (
	"fmt"
	"unsafe"
)

// apm is WebRTC's AudioProcessing module: high-pass filter, echo
// suppression (its AEC, delay-agnostic), noise suppression, digital AGC
// and VAD, on 10 ms chunks.
type apm struct {
	c *C.parley_apm
}

func newAPM(echo, noise, gain bool) (*apm, error) {
	c := C.parley_apm_new(cbool(echo), cbool(noise), cbool(gain))
	if c == nil {
		return nil, fmt.Errorf("dsp: webrtc audio processing refused 48 kHz mono")
	}
	return &apm{c: c}, nil
}

func (a *apm) set(echo, noise, gain bool) error {
	if rc := C.parley_apm_set(a.c, cbool(echo), cbool(noise), cbool(gain)); rc != 0 {
		return fmt.Errorf("dsp: switch stages: webrtc error %d", int(rc))
	}
	return nil
}

// process analyses far, then cleans near in place; both are one chunk.
func (a *apm) process(far, near []int16) (voice bool, err error) {
	if rc := C.parley_apm_render(a.c, (*C.int16_t)(unsafe.Pointer(&far[0]))); rc != 0 {
		return false, fmt.Errorf("dsp: analyse far end: webrtc error %d", int(rc))
	}
	var v C.int
	if rc := C.parley_apm_capture(a.c, (*C.int16_t)(unsafe.Pointer(&near[0])), &v); rc != 0 {
		return false, fmt.Errorf("dsp: process capture: webrtc error %d", int(rc))
	}
	return v != 0, nil
}

func (a *apm) close() { C.parley_apm_free(a.c) }

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}
